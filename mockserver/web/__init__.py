"""The thin Flask layer: it adapts HTTP to the pure core and decides nothing."""
