"""HTTP entrypoints (ASGI): the registry protocol, health and metrics."""
