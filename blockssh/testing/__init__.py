"""Public test helpers: an in-memory client/server core pair, in-process servers."""
