"""Peer gateways for `make bench-peers`: installed into bench/.peers/ (ignored by git), each started pinned to the
gateway core, with no database, pointed at the same fake upstream as Waypost (`bench` → the fake's JSON base URL,
`bench-stream` → its SSE base URL), and driven with the same requests on the same OpenAI path.

- LiteLLM proxy: `pip install 'litellm[proxy]'` in its own venv; `litellm --config` with a model list, 1 worker.
- MLflow AI Gateway: `pip install 'mlflow[gateway]'` in its own venv; `mlflow gateway start --config-path` with two
  `llm/v1/chat` endpoints (provider openai, `openai_api_base` = the fake), 1 worker; queried on its
  OpenAI-compatible /v1/chat/completions (the model names the endpoint).
- Portkey gateway: `npm install @portkey-ai/gateway` (Node 20), `node build/start-server.js --headless`; the
  provider and the fake's base URL travel in the x-portkey-provider and x-portkey-custom-host headers, as Portkey's
  own docs configure a self-hosted OpenAI-compatible upstream.

Python: `python -m bench.peers install [NAME...]`. A failed install leaves bench/.peers/<name>.failed with the
reason, which the bench prints as "not run (reason)".
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec

from waypost.processes import Child, http_ok

PEERS_DIR = Path(__file__).parent / ".peers"
PEER_NAMES = ("mlflow", "portkey", "litellm")
LABELS = {"mlflow": "MLflow AI Gateway", "portkey": "Portkey gateway", "litellm": "LiteLLM proxy"}
_PIP_PACKAGES = {"litellm": "litellm[proxy]", "mlflow": "mlflow[gateway]"}
_PORTKEY_SERVER = "node_modules/@portkey-ai/gateway/build/start-server.js"
_BINARIES = {"litellm": "bin/litellm", "mlflow": "bin/mlflow", "portkey": _PORTKEY_SERVER}


class Endpoint(msgspec.Struct, frozen=True):
    """How to send the bench's chat request (JSON or SSE flavour) to one target."""

    url: str
    headers: dict[str, str]


class PeerStarted(msgspec.Struct, frozen=True):
    json: Endpoint
    sse: Endpoint


def binary(name: str) -> Path:
    return PEERS_DIR / name / _BINARIES[name]


def not_installed_reason(name: str) -> str | None:
    """None when the peer is installed; else why it cannot run."""
    failed = PEERS_DIR / f"{name}.failed"
    if failed.exists():
        return f"install failed: {failed.read_text().strip()[:160]}"
    if not binary(name).exists():
        return "not installed: make bench-peers"
    return None


def install(name: str) -> str | None:
    """Install one peer (idempotent); return None on success, else the reason it failed."""
    folder = PEERS_DIR / name
    failed = PEERS_DIR / f"{name}.failed"
    failed.unlink(missing_ok=True)
    if binary(name).exists():
        return None
    PEERS_DIR.mkdir(exist_ok=True)
    if name == "portkey":
        if shutil.which("npm") is None:
            reason = "npm not found (Node 20 is needed)"
            failed.write_text(reason)
            return reason
        folder.mkdir(exist_ok=True)
        steps = [["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "@portkey-ai/gateway"]]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(folder)],
            [str(folder / "bin" / "pip"), "install", "--quiet", _PIP_PACKAGES[name]],
        ]
    for argv in steps:
        print(f"bench-peers: {' '.join(argv)}", flush=True)
        completed = subprocess.run(argv, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            lines = [line for line in completed.stderr.splitlines() if line.strip()]
            reason = f"{argv[0].rsplit('/', 1)[-1]} exited {completed.returncode}: {lines[-1] if lines else ''}"
            failed.write_text(reason)
            return reason
    return None


def _litellm(folder: Path, port: int, fake_url: str) -> tuple[list[str], dict[str, str], str, dict[str, str]]:
    master_key = f"sk-{secrets.token_hex(24)}"  # a throwaway key for a proxy on loopback
    config = {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": f"{fake_url}/{kind}/v1",
                    "api_key": "sk-bench",
                },
            }
            for model, kind in (("bench", "json"), ("bench-stream", "sse"))
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True},
        "general_settings": {"master_key": master_key},  # LiteLLM refuses to start without one
    }
    path = folder / "litellm.yaml"  # JSON is YAML
    path.write_text(json.dumps(config))
    argv = [str(binary("litellm")), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1"]
    env = {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "true"}
    return argv, env, "/health/liveliness", {"Authorization": f"Bearer {master_key}"}


def _mlflow(folder: Path, port: int, fake_url: str) -> tuple[list[str], dict[str, str], str, dict[str, str]]:
    config = {
        "endpoints": [
            {
                "name": model,
                "endpoint_type": "llm/v1/chat",
                "model": {
                    "provider": "openai",
                    "name": "bench-model",
                    "config": {"openai_api_key": "sk-bench", "openai_api_base": f"{fake_url}/{kind}/v1"},
                },
            }
            for model, kind in (("bench", "json"), ("bench-stream", "sse"))
        ]
    }
    path = folder / "mlflow.yaml"
    path.write_text(json.dumps(config))
    argv = [str(binary("mlflow")), "gateway", "start", "--config-path", str(path), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1"]
    return argv, {}, "/health", {}


def _portkey(folder: Path, port: int, fake_url: str) -> tuple[list[str], dict[str, str], str, dict[str, str]]:
    argv = [shutil.which("node") or "node", str(binary("portkey")), f"--port={port}", "--headless"]
    headers = {"x-portkey-provider": "openai", "Authorization": "Bearer sk-bench"}
    return argv, {"NODE_ENV": "production"}, "/", headers


_LAUNCHERS: dict[str, Callable[[Path, int, str], tuple[list[str], dict[str, str], str, dict[str, str]]]] = {
    "litellm": _litellm,
    "mlflow": _mlflow,
    "portkey": _portkey,
}


def start_peer(
    name: str, *, folder: Path, port: int, fake_url: str, cpu: int, children: list[Child]
) -> tuple[Child, PeerStarted]:
    """Start an installed peer pinned to `cpu`; return its child and how to reach it once it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    argv, extra_env, ready_path, headers = _LAUNCHERS[name](folder, port, fake_url)
    env = {"PATH": f"{PEERS_DIR / name / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(folder), **extra_env}
    child = Child(name, ["taskset", "-c", str(cpu), *argv], env=env, log_path=folder / f"{name}.log")
    children.append(child)
    base = f"http://127.0.0.1:{port}"
    child.wait_until(http_ok(base + ready_path), what=ready_path, timeout=120)
    url = f"{base}/v1/chat/completions"
    json_headers = {"Content-Type": "application/json", **headers}
    if name == "portkey":
        return child, PeerStarted(
            json=Endpoint(url, {**json_headers, "x-portkey-custom-host": f"{fake_url}/json/v1"}),
            sse=Endpoint(url, {**json_headers, "x-portkey-custom-host": f"{fake_url}/sse/v1"}),
        )
    return child, PeerStarted(json=Endpoint(url, json_headers), sse=Endpoint(url, json_headers))


def _main(argv: list[str]) -> int:
    if not argv or argv[0] != "install":
        print("usage: python -m bench.peers install [mlflow] [portkey] [litellm]", file=sys.stderr)
        return 2
    for name in argv[1:] or PEER_NAMES:
        reason = install(name)
        print(f"bench-peers: {name}: {'ready' if reason is None else 'FAILED: ' + reason}", flush=True)
    return 0  # a peer that fails to install shows as "not run (reason)" in the table, never fails the run


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
