"""The database itself: its tables, its connections, and transactions that hold a lock row."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from ..errors import StoreError
from ..manifest import content_hash
from ..storage import write_atomic

SCHEMA_VERSION = 1
DATASET_LOCK, MODELS_LOCK = 1, 2
#: Files fetched from the database per query when the working folder is filled.
_FETCH_CHUNK = 32

METADATA = sa.MetaData()
LOCKS = sa.Table(
    "celeb_lock",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("changes", sa.BigInteger, nullable=False),
)
CHANGES = sa.Table(
    "celeb_changes",
    METADATA,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ops", sa.Text, nullable=False),
)
SNAPSHOT = sa.Table(
    "celeb_snapshot",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("schema", sa.Integer, nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
)
FILES = sa.Table(
    "celeb_files",
    METADATA,
    sa.Column("path", sa.String(600), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
MODEL_FILES = sa.Table(
    "celeb_model_files",
    METADATA,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)


class Database:
    """One database, shared by every store of this process that names it (see :func:`database`)."""

    def __init__(self, url: str) -> None:
        try:
            self.url = sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError) as exc:
            raise StoreError(
                "the database URL cannot be read; write it as postgresql+psycopg://user:password@host/db"
            ) from exc
        if self.url.get_backend_name() not in ("postgresql", "sqlite"):
            raise StoreError(f"the database must be PostgreSQL or SQLite, not {self.url.get_backend_name()}")
        if self.url.get_backend_name() == "postgresql" and self.url.drivername == "postgresql":
            self.url = self.url.set(drivername="postgresql+psycopg")  # the driver requirements.txt has
        sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = sa.create_engine(
            self.url,
            hide_parameters=True,  # values (photos, passwords) never reach an error message or log
            pool_pre_ping=True,  # a managed server closes idle connections; the next use reconnects
            connect_args={"timeout": 60} if sqlite else {"connect_timeout": 15},
        )
        self._local = threading.local()
        self._ready = False
        self._ready_lock = threading.Lock()

    def shown(self) -> str:
        """The server and database, for the owner to see: never the user name or the password."""
        if self.url.get_backend_name() == "sqlite":
            return f"SQLite {Path(self.url.database or '').name}"
        port = f":{self.url.port}" if self.url.port else ""
        return f"PostgreSQL {self.url.host or 'localhost'}{port}/{self.url.database or ''}"

    # -- transactions

    def _prepare(self) -> None:
        """Make the tables (and the lock rows) the first time this process uses the database."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            with self._errors(), self.engine.begin() as connection:
                if self.url.get_backend_name() == "postgresql":
                    # Two processes starting on a fresh database: one makes the tables.
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(271828)"))
                METADATA.create_all(connection, checkfirst=True)
                have = set(connection.scalars(sa.select(LOCKS.c.id)))
                for lock in sorted({DATASET_LOCK, MODELS_LOCK} - have):
                    connection.execute(sa.insert(LOCKS).values(id=lock, changes=0))
            self._ready = True

    def current(self) -> sa.Connection | None:
        """The connection of the transaction this thread holds a lock in, if any."""
        return getattr(self._local, "connection", None)

    @contextmanager
    def locked(self, lock: int) -> Iterator[sa.Connection]:
        """A transaction holding ``lock``: committed when the block ends, rolled back when it
        raises. Nested use in one thread joins the outer transaction."""
        outer = self.current()
        if outer is not None:
            yield outer
            return
        self._prepare()
        self._local.after = []
        try:
            with self._errors(), self.engine.begin() as connection:
                if self.url.get_backend_name() == "postgresql":
                    connection.execute(sa.text("SET LOCAL lock_timeout = '60s'"))
                # Writers queue on this row until the transaction ends (SQLite: the database's lock).
                connection.execute(
                    sa.update(LOCKS).where(LOCKS.c.id == lock).values(changes=LOCKS.c.changes + 1)
                )
                self._local.connection = connection
                try:
                    yield connection
                finally:
                    self._local.connection = None
            for hook in self._local.after:  # committed: what this process caches may follow
                hook()
        finally:
            self._local.after = []

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the transaction held now is committed (never when it rolls back)."""
        self._local.after.append(hook)

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection to read with: the locked transaction's when this thread holds one."""
        outer = self.current()
        if outer is not None:
            yield outer
            return
        self._prepare()
        with self._errors(), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database failures as StoreError, saying what failed but never the URL or values."""
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"the database ({self.shown()}) cannot be reached or refused the request "
                f"({type(exc.orig).__name__}); check its URL and that it is running"
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"the database ({self.shown()}) failed: {type(exc).__name__}") from None

    # -- files

    def put_file(self, table: sa.Table, key: str, data: bytes) -> None:
        """Write a file's row in the transaction held now."""
        connection = self.current()
        if connection is None:
            raise RuntimeError("files are written inside a locked transaction")
        column = table.c[table.primary_key.columns.keys()[0]]
        connection.execute(sa.delete(table).where(column == key))
        connection.execute(
            sa.insert(table).values({column.key: key, "sha256": content_hash(data), "data": data})
        )

    def fetch_files(self, table: sa.Table, keys: Iterable[str], folder: Path) -> None:
        """Write the rows of ``keys`` (those the database has) under ``folder``, each atomically."""
        column = table.c[table.primary_key.columns.keys()[0]]
        keys = sorted(set(keys))
        for start in range(0, len(keys), _FETCH_CHUNK):
            with self.reading() as connection:
                rows = connection.execute(
                    sa.select(column, table.c.sha256, table.c.data).where(
                        column.in_(keys[start : start + _FETCH_CHUNK])
                    )
                )
                for key, digest, data in rows:
                    if content_hash(data) != digest:
                        continue  # damaged in the database: left missing, reported where it is read
                    target = folder / key
                    if target.resolve().is_relative_to(folder.resolve()):
                        write_atomic(target, data)


_databases: dict[str, Database] = {}
_databases_lock = threading.Lock()


def database(url: str) -> Database:
    """The :class:`Database` of ``url``, one per process (its connections are pooled)."""
    with _databases_lock:
        if url not in _databases:
            _databases[url] = Database(url)
        return _databases[url]
