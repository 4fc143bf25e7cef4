"""The `waypost` command: runs the planes, the embedded all-in-one gateway, migrations and admin calls."""
