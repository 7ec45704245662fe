"""nginx from Debian's packages as the load balancer in front of kgserver frontends, for the tests and the README.

`make engines` installs `nginx-light`. `nginx_config` writes the configuration the README's
deployment section shows; `nginx_in_front` runs nginx in the foreground with it, its files in
a temporary directory, until the block ends.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from serving import fetch, free_port


def nginx_config(directory: Path, port: int, upstreams: Sequence[str]) -> str:
    """One nginx server on `port` spreading requests over the kgserver frontends at `upstreams` (host:port)."""
    servers = "\n".join(f"        server {upstream};" for upstream in upstreams)
    return f"""worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 512; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    client_max_body_size 16m;               # kgserver's own limit on a submission is lower: it answers 413
    upstream kgserver {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://kgserver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;            # answers, dumps and graphs stream through as they are written
            proxy_read_timeout 330s;        # past the query limit and a submission's check
            proxy_next_upstream error timeout;  # never for a POST or DELETE that reached a frontend
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_in_front(directory: Path, upstreams: Sequence[str]) -> Iterator[str]:
    """nginx balancing over `upstreams` until the block ends; yields its base URL."""
    program = shutil.which("nginx") or "/usr/sbin/nginx"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(nginx_config(directory, port, upstreams), encoding="utf-8")
    process = subprocess.Popen([program, "-p", str(directory), "-c", str(config), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, (directory / "error.log").read_text(errors="replace")
            try:
                if fetch(f"{base}/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def nginx_installed() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
