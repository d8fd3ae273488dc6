"""One module per command group of the ``controller`` CLI; each exposes ``register(app)``."""
