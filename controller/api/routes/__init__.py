"""One router per resource (see :data:`controller.api.main.ROUTE_MODULES`)."""
