"""The `waypost` command: `keygen` prints a usable set of secrets; `api` calls the admin API of a running gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from shared.crypto import decode_b64_key, load_signing_key, public_key_b64
from tests.e2e.gateway import ADMIN_TOKEN, Gateway


def _waypost(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waypost.cli", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_keygen_prints_a_matching_set_of_secrets() -> None:
    result = _waypost("keygen")
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(values) == {"WAYPOST_SECRET_KEY", "WAYPOST_SIGNING_KEY", "WAYPOST_VERIFY_KEY"}
    assert len(decode_b64_key(values["WAYPOST_SECRET_KEY"], name="secret")) == 32
    assert public_key_b64(load_signing_key(values["WAYPOST_SIGNING_KEY"])) == values["WAYPOST_VERIFY_KEY"]


def test_api_calls_the_admin_api_with_the_token_from_the_environment(gateway: Gateway) -> None:
    env = {**os.environ, "WAYPOST_ADMIN_URL": gateway.admin_url, "WAYPOST_ADMIN_TOKEN": ADMIN_TOKEN}
    created = _waypost("api", "POST", "/teams", '{"name": "from-the-cli"}', env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    team = json.loads(created.stdout)
    listed = _waypost("api", "GET", f"/teams/{team['id']}", env=env)
    assert json.loads(listed.stdout)["name"] == "from-the-cli"

    refused = _waypost("api", "GET", "/teams", env={**env, "WAYPOST_ADMIN_TOKEN": "wrong"})
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"]["type"] == "unauthorized"
    assert "wrong" not in refused.stdout
