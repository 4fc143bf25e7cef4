"""nginx `proxy_pass` with upstream keepalive in front of the fake: the limit of a proxy on this machine, measured
in the same run as the gateway (nginx-light from Debian's packages; `make bench` installs it if missing)."""

from __future__ import annotations

import shutil
from pathlib import Path

from waypost.processes import Child, ChildFailedError, port_in_use

_CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream fake {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def start_nginx(*, folder: Path, port: int, upstream_port: int, cpu: int, children: list[Child]) -> str:
    """Start nginx pinned to `cpu` on `port`, proxying to the fake; return its base URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise ChildFailedError("nginx not found: apt-get install nginx-light (make bench does this)")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(_CONFIG.format(folder=folder, port=port, upstream_port=upstream_port))
    child = Child(
        "nginx",
        ["taskset", "-c", str(cpu), binary, "-c", str(config), "-p", str(folder)],
        env={"PATH": "/usr/bin:/bin:/usr/sbin"},
        log_path=folder / "stdout.log",
    )
    children.append(child)
    child.wait_until(lambda: port_in_use("127.0.0.1", port), what="nginx listening", timeout=20)
    return f"http://127.0.0.1:{port}"
