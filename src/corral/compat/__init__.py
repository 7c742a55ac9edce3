"""The seeds' APIs as thin adapters over the core API, one module per seed."""
