"""A large snapshot for the bench: 100k keys and 1k routes written straight into the control plane's SQLite
database in bulk (seconds, where 100k admin API calls would take many minutes), then one config_revision bump so the
running publisher builds and publishes the snapshot like after any admin change.

The seeded keys have random secret hashes (no one can use them); they exist to size the key index. The seeded routes
point at the bench's JSON deployment.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, select, update

from controlplane.db.models import ConfigRevision, Deployment, Key, Route, RouteTarget
from shared.apikeys import new_public_id


def seed(database: Path, *, keys: int, routes: int) -> float:
    """Insert `keys` keys (team and environment of the `bench` key) and `routes` routes, bump the revision;
    return the seconds it took."""
    started = time.monotonic()
    engine = create_engine(f"sqlite:///{database}")
    now = datetime.now(UTC)
    try:
        with engine.begin() as connection:
            team_id, environment_id = connection.execute(
                select(Key.team_id, Key.environment_id).where(Key.name == "bench")
            ).one()
            deployment_id = connection.execute(select(Deployment.id).where(Deployment.name == "fake-json")).scalar_one()
            public_ids: set[str] = set()
            while len(public_ids) < keys:
                public_ids.add(new_public_id())
            key_rows = [
                {
                    "id": f"00000000-0000-4000-8000-{n:012d}",
                    "public_id": public_id,
                    "secret_hash": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                    "name": f"seed-{n}",
                    "team_id": team_id,
                    "environment_id": environment_id,
                    "key_metadata": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for n, public_id in enumerate(public_ids)
            ]
            route_ids = [f"00000000-0000-4000-9000-{n:012d}" for n in range(routes)]
            route_rows = [
                {"id": route_id, "name": f"seed-route-{n}", "policy": {}, "created_at": now, "updated_at": now}
                for n, route_id in enumerate(route_ids)
            ]
            target_rows = [{"route_id": r, "position": 0, "deployment_id": deployment_id} for r in route_ids]
            for table, rows in ((Key, key_rows), (Route, route_rows), (RouteTarget, target_rows)):
                if rows:  # an empty executemany would insert one row of defaults
                    connection.execute(insert(table), rows)
            connection.execute(update(ConfigRevision).values(revision=ConfigRevision.revision + 1))
    finally:
        engine.dispose()
    return time.monotonic() - started
