"""Ways to run a config past one process: `ray` (a Ray cluster, one task per shard)."""
