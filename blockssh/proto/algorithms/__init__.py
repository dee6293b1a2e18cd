"""Algorithm registries: ciphers, MACs, compression and per-connection policies."""
