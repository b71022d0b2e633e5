"""A generic, transparent zk-STARK engine over Goldilocks. It knows nothing of exchanges."""
