"""Repository scripts (run from the repository root)."""
