"""The agent's HTTP edge: routers, dependencies, error bodies and request limits."""
