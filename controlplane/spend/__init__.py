"""Budget spend state (DESIGN.md §5): each budget's spend in its current period, computed from the usage ledger
up to the ingester's committed stream position and published to the spend KV bucket for the data planes."""
