"""The usage ingester (DESIGN.md §6): a durable JetStream pull consumer that stores usage events in the ledger
exactly once and keeps hourly rollups of them."""
