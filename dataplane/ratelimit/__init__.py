"""Rate limits on any scope, enforced in memory and kept global across replicas by gossip (DESIGN.md §5)."""
