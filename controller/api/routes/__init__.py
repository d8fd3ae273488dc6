"""One router per resource (see :data:`lts.controller.api.main.ROUTE_MODULES`)."""
