"""Provider adapters. Pure: they encode requests, decode and classify responses, and never do I/O."""
