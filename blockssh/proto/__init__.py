"""The sans-I/O protocol core: bytes in, bytes and events out; no sockets, clock or threads."""
