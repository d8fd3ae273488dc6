"""The controller's results API (``controller serve``): routers, dependencies, schemas."""
