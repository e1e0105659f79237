"""A throwaway PostgreSQL server for the tests: Debian's own binaries, a temporary folder, a free port.

Nothing is mocked and nothing is installed as a service: ``initdb`` makes a fresh cluster in a
temporary folder and ``pg_ctl`` starts it on 127.0.0.1 and on a unix socket in that folder. Run as
root (CI), both run as the ``postgres`` system user, because ``initdb`` refuses root.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: The superuser every cluster gets, whoever runs the tests, so URLs never depend on the login name.
USER = "postgres"
#: Every server's folder starts so, in the temporary directory: how a later run finds orphans.
PREFIX = "celeb-pg-"
#: Programs the server needs, all from one installation (initdb runs its own ``postgres``).
PROGRAMS = ("initdb", "pg_ctl", "postgres")


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_binaries() -> Path:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``: from PATH, else Debian's newest version.

    Debian puts them only in ``/usr/lib/postgresql/<version>/bin``, not on PATH.
    """
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []

    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in PROGRAMS):
            return folder
    raise PostgresNotInstalled("no initdb, pg_ctl and postgres on PATH or in /usr/lib/postgresql/*/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, but it exists
    return True


class PostgresServer:
    """One running cluster; :meth:`start` makes it, :meth:`stop` removes every trace of it."""

    def __init__(self, binaries: Path, folder: Path) -> None:
        self.binaries = binaries
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = 0
        self.running = False
        # initdb and the server refuse to run as root; the postgres system user is Debian's.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    # ------------------------------------------------------------ life cycle

    @classmethod
    def start(cls, binaries: Path | None = None) -> PostgresServer:
        """Make a new cluster and start it; raises :class:`PostgresNotInstalled` or a RuntimeError."""
        binaries = binaries or find_binaries()
        cls.reap_orphans()
        folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        server = cls(binaries, folder)
        # Registered before anything runs, so even a half-started server is stopped and removed.
        atexit.register(server.stop)
        try:
            (folder / "owner.pid").write_text(str(os.getpid()))
            if server.as_user:
                shutil.chown(folder, "postgres", "postgres")
            server._initdb()
            server._start()
        except BaseException:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        """Stop the server at once (its data is thrown away) and delete its folder; safe to repeat."""
        if self.running or (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
            self.running = False
        shutil.rmtree(self.folder, ignore_errors=True)
        atexit.unregister(self.stop)

    @classmethod
    def reap_orphans(cls) -> None:
        """Stop and remove the servers of earlier runs whose process is gone (killed, not just stopped).

        atexit covers Ctrl-C and ordinary failures, but not SIGKILL or SIGTERM.
        """
        for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
            try:
                owner = int((folder / "owner.pid").read_text())
            except (OSError, ValueError):
                continue  # not ours, or still being made
            if not _alive(owner):
                with contextlib.suppress(Exception):
                    cls(find_binaries(), folder).stop()

    # ------------------------------------------------------------ databases

    @property
    def socket_dir(self) -> Path:
        return self.folder

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """A new, empty database called ``name``; its SQLAlchemy URL."""
        from psycopg import sql

        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing whatever connections a test left open to it."""
        from psycopg import sql

        with self._admin() as connection:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            connection.execute(drop)

    def _admin(self):
        import psycopg

        # autocommit: CREATE/DROP DATABASE cannot run inside a transaction.
        address = {"host": "127.0.0.1", "port": self.port, "user": USER, "dbname": "postgres"}
        return psycopg.connect(**address, autocommit=True, connect_timeout=10)

    # ------------------------------------------------------------ internals

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # The PG* variables of the caller's shell (PGPORT, PGHOST, PGDATA...) must not steer this
        # cluster; C locale because the caller's may not be installed, which makes initdb fail.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        result = subprocess.run(
            [*self.as_user, str(self.binaries / program), *args],
            # A cwd the postgres user may enter: the caller's may be under /root.
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            output = f"{result.stdout}{result.stderr}{self._log_tail()}"
            raise RuntimeError(f"{program} failed (exit {result.returncode}):\n{output}")
        return result

    def _initdb(self) -> None:
        # --no-sync: a test cluster does not need to survive a power cut, and syncing takes seconds.
        options = ["-D", str(self.data), "-U", USER, "--auth=trust", "--encoding=UTF8", "--locale=C"]
        self._run("initdb", *options, "--no-sync")
        # Settings go in the config file rather than pg_ctl -o, which passes through a shell
        # that would split a folder name with spaces in it.
        socket_dir = str(self.socket_dir).replace("'", "''")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# the tests' own server\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{socket_dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def _start(self) -> None:
        # A port found free may be taken before the server binds it: then try another.
        for attempt in range(3):
            self.port = free_port()
            options = ["-D", str(self.data), "-l", str(self.log), "-o", f"-p {self.port}", "-w", "-t", "60"]
            result = self._run("pg_ctl", *options, "start", check=False)
            if result.returncode == 0:
                self.running = True
                return
            if attempt < 2 and "could not bind" in self._log_tail():
                continue
            raise RuntimeError(
                f"PostgreSQL did not start (pg_ctl exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- last lines of {self.log}:\n" + "\n".join(text.splitlines()[-lines:])
