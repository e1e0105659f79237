"""Start the app, and a real reverse proxy in front of it, for tests and benchmarks.

One place starts ``streamlit run app.py`` on a free port with its own
dataset, models and temp folders (:class:`AppServer`), and Debian's nginx in
front of it as Streamlit Community Cloud's proxy is (:class:`ReverseProxy`):
WebSocket upgrade forwarded, ``X-Forwarded-For`` and ``X-Forwarded-Proto``
added. A browser that opens the proxy's address is a remote visitor to the
app; one that opens the app's own address is on the app's computer.

Why nginx and not faked headers: Chromium does not send Playwright's
extra HTTP headers on the WebSocket upgrade, and Streamlit reads
``st.context.headers`` from that upgrade, so a "visitor" faked that way
reaches the app as the owner.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
#: Flags for Debian's chromium here: no sandbox as root, no calls home (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class ServingError(RuntimeError):
    """The app or the proxy did not start; the message holds the tail of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ipv6_loopback() -> bool:
    """Whether this machine can listen on [::1] (some containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop_group(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _wait_until_healthy(
    url: str, process: subprocess.Popen, timeout_s: float, what: str, log: Callable[[], str]
) -> None:
    """Wait until ``url`` answers Streamlit's health check; ServingError (and the process stopped)
    when the process exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy(url):
            return
        try:
            process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue
        raise ServingError(f"{what} exited with {process.returncode}:\n{log()}")
    _stop_group(process)
    raise ServingError(f"{what} did not answer on {url} within {timeout_s:g} s:\n{log()}")


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class AppServer:
    """``streamlit run app.py`` on ``root``'s dataset/, models/ and tmp/ folders, on a free port.

    It listens as a user's ``streamlit run`` does (every address, both IPv4
    and IPv6), so that a browser at ``127.0.0.1`` arrives as the operating
    system really delivers it.
    """

    root: Path
    secrets: str = ""
    flags: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def tmp(self) -> Path:
        """The server's TMPDIR."""
        return self.root / "tmp"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return _tail(self.log, chars)

    def start(self, timeout_s: float = 60.0) -> AppServer:
        for folder in (self.dataset, self.models, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        secrets_file = self.root / "secrets.toml"
        secrets_file.write_text(self.secrets)
        env = {
            **os.environ,
            "CELEB_DATASET_DIR": str(self.dataset),
            "CELEB_MODELS_DIR": str(self.models),
            "TMPDIR": str(self.tmp),
        }
        env.pop("CELEB_ON_CLOUD", None)
        command = [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless=true", f"--server.port={self.port}", "--server.fileWatcherType=none",
            "--browser.gatherUsageStats=false",
            f"--secrets.files={secrets_file}",  # never the developer's own secrets
            *self.flags,
        ]  # fmt: skip
        with self.log.open("wb") as out:
            # Its own process group, so that stopping it stops anything it started.
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_until_healthy(self.url(), self.process, timeout_s, "streamlit", self.log_tail)
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: The site configuration the README gives for self-hosting, run here as it is but for its ports.
SITE_CONFIG = Path(__file__).resolve().parent.parent / "docs" / "nginx.conf"

_NGINX_CONFIG = """\
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{site}
}}
"""


def site_config(port: int, upstream: int) -> str:
    """docs/nginx.conf listening on 127.0.0.1:``port`` and forwarding to 127.0.0.1:``upstream``."""
    text = SITE_CONFIG.read_text(encoding="utf-8")
    text, listens = re.subn(r"(?m)^(\s*)listen \d+;", rf"\g<1>listen 127.0.0.1:{port};", text)
    text, passes = re.subn(
        r"proxy_pass http://127\.0\.0\.1:\d+;", f"proxy_pass http://127.0.0.1:{upstream};", text
    )
    if (listens, passes) != (1, 1):
        raise ServingError(f"{SITE_CONFIG} must have one 'listen PORT;' and one 'proxy_pass' to 127.0.0.1")
    return text


def nginx_available() -> bool:
    return Path(NGINX).is_file() and os.access(NGINX, os.X_OK)


@dataclass
class ReverseProxy:
    """Debian's nginx on a free loopback port, forwarding to ``upstream_port`` as a cloud proxy does.

    Runs in the foreground of its own process group (``daemon off``) with a
    config, pid file, logs and temp folders in ``root``.
    """

    root: Path
    upstream_port: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "error.log"

    def start(self, timeout_s: float = 20.0) -> ReverseProxy:
        if not nginx_available():
            raise ServingError(f"nginx is not installed at {NGINX} (apt install nginx-light)")
        self.root.mkdir(parents=True, exist_ok=True)
        # As root, nginx's workers would switch to a user who cannot use the temp folders here.
        user = "user root;" if os.geteuid() == 0 else ""
        config = self.root / "nginx.conf"
        config.write_text(
            _NGINX_CONFIG.format(root=self.root, user=user, site=site_config(self.port, self.upstream_port))
        )
        command = [NGINX, "-p", str(self.root), "-e", str(self.log), "-c", str(config), "-g", "daemon off;"]
        with (self.root / "nginx.out").open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

        def output() -> str:
            return _tail(self.root / "nginx.out") + _tail(self.log)

        _wait_until_healthy(self.url, self.process, timeout_s, "nginx", output)
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process)

    def __enter__(self) -> ReverseProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
