"""nginx twice, from Debian's nginx-light (`make bench` installs it if missing):

- the fake upstream: the fake's fixed JSON and SSE bodies (bench/fake_upstream.py) served with `return 200`, which
  measures several times faster than the Python fake, so the upstream is never what limits a target;
- the `proxy_pass` baseline with upstream keepalive in front of the fake: the limit of a proxy on this machine,
  measured in the same run as the gateways.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.fake_upstream import COMPLETION, STREAM
from waypost.processes import Child, ChildFailedError, port_in_use

_COMMON = """
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{server}
}}
"""

_PROXY = """
    upstream fake {{ server 127.0.0.1:{upstream_port}; keepalive 256; keepalive_requests 100000000; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
"""

_FAKE = """
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /json/v1/chat/completions {{ default_type application/json; return 200 '{json}'; }}
        location = /sse/v1/chat/completions {{
            default_type text/event-stream;
            ssi on;  # no SSI commands in the body: this only makes the stream chunked, as OpenAI's are
            ssi_types text/event-stream;
            return 200 '{sse}';
        }}
    }}
"""


def _quoted(body: bytes) -> str:
    """A body as the inside of a single-quoted nginx string (nginx turns `\\n` back into a newline)."""
    text = body.decode()
    if "'" in text or "$" in text or "\\" in text:
        raise ValueError("the fake's bodies must not contain quotes, backslashes or nginx variables")
    return text.replace("\n", "\\n")


def fake_config(folder: Path, port: int) -> str:
    server = _FAKE.format(port=port, json=_quoted(COMPLETION), sse=_quoted(STREAM))
    return _COMMON.format(folder=folder, server=server)


def proxy_config(folder: Path, port: int, upstream_port: int) -> str:
    return _COMMON.format(folder=folder, server=_PROXY.format(port=port, upstream_port=upstream_port))


def _start(name: str, *, folder: Path, config: str, port: int, cpu: int, children: list[Child]) -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise ChildFailedError("nginx not found: apt-get install nginx-light (make bench does this)")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nginx.conf"
    path.write_text(config)
    child = Child(
        name,
        ["taskset", "-c", str(cpu), binary, "-c", str(path), "-p", str(folder)],
        env={"PATH": "/usr/bin:/bin:/usr/sbin"},
        log_path=folder / "stdout.log",
    )
    children.append(child)
    child.wait_until(lambda: port_in_use("127.0.0.1", port), what="nginx listening", timeout=20)
    return f"http://127.0.0.1:{port}"


def start_nginx(*, folder: Path, port: int, upstream_port: int, cpu: int, children: list[Child]) -> str:
    """Start the nginx `proxy_pass` baseline pinned to `cpu` on `port`, proxying to the fake; return its URL."""
    config = proxy_config(folder, port, upstream_port)
    return _start("nginx", folder=folder, config=config, port=port, cpu=cpu, children=children)


def start_fake_nginx(*, folder: Path, port: int, cpu: int, children: list[Child]) -> str:
    """Start the nginx-served fake upstream pinned to `cpu` on `port`; return its URL (base URLs: URL/json/v1 and
    URL/sse/v1)."""
    config = fake_config(folder, port)
    return _start("fake-nginx", folder=folder, config=config, port=port, cpu=cpu, children=children)
