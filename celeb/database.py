"""The dataset and the models in a database (PostgreSQL; SQLite for one local file), through
SQLAlchemy: what keeps the owner's work where the disk is not kept (Streamlit Community Cloud).

The database holds everything; a local working folder is its cache, laid out like the folder
store, so that the code that reads photos, crops and models by path works unchanged, and a
working folder deleted (a restart on the Cloud) is filled again from the database.

Tables::

    celeb_lock         one row per lock: a change updates its row first, so writers queue
    celeb_changes      the dataset's changes, as the folder store's journal operations
    celeb_snapshot     every record as of one change (manifest.json's form), now and then
    celeb_files        photos, crops and feature caches by their path in the dataset folder
    celeb_model_files  the models folder: model.joblib, model.json, history/...

A change is one transaction: the lock row, the records' operations and the files they name go
in together or not at all, so a process killed at any point leaves the previous state, and two
processes never lose each other's writes. Adding a photo writes one change row and one file
row, whatever the dataset's size; the snapshot is rewritten only every SNAPSHOT_EVERY changes.

The URL (and its password) is never shown: :meth:`Database.shown` names the server and the
database only, and errors say what failed without the URL or the SQL's values.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from filelock import FileLock, Timeout

from .config import SNAPSHOT_EVERY
from .errors import DatasetError, ManifestError, ModelError, StoreError
from .manifest import PersonRecord, _Applier, _parse_manifest, _State, manifest_text
from .registry import ModelInfo, ModelRegistry, ModelVersion
from .storage import StagedFile, write_atomic

if TYPE_CHECKING:
    from .model import ModelBundle

SCHEMA_VERSION = 1
_DATASET_LOCK, _MODELS_LOCK = 1, 2
#: Files fetched from the database per query when the working folder is filled.
_FETCH_CHUNK = 32

_metadata = sa.MetaData()
_locks = sa.Table(
    "celeb_lock",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("changes", sa.BigInteger, nullable=False),
)
_changes = sa.Table(
    "celeb_changes",
    _metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ops", sa.Text, nullable=False),
)
_snapshot = sa.Table(
    "celeb_snapshot",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("schema", sa.Integer, nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
)
_files = sa.Table(
    "celeb_files",
    _metadata,
    sa.Column("path", sa.String(600), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
_model_files = sa.Table(
    "celeb_model_files",
    _metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
                _metadata.create_all(connection, checkfirst=True)
                have = set(connection.scalars(sa.select(_locks.c.id)))
                for lock in sorted({_DATASET_LOCK, _MODELS_LOCK} - have):
                    connection.execute(sa.insert(_locks).values(id=lock, changes=0))
            self._ready = True

    def current(self) -> sa.Connection | None:
        """The connection of the transaction this thread holds a lock in, if any."""
        return getattr(self._local, "connection", None)

    @contextmanager
    def locked(self, lock: int, after: list[Callable[[], None]] | None = None) -> Iterator[sa.Connection]:
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
                    sa.update(_locks).where(_locks.c.id == lock).values(changes=_locks.c.changes + 1)
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
        connection.execute(sa.insert(table).values({column.key: key, "sha256": _sha(data), "data": data}))

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
                    if _sha(data) != digest:
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


# ---------------------------------------------------------------- the dataset


class _DatabaseStagedFile(StagedFile):
    """A file written beside its place in the working folder; :meth:`commit` also writes it to the
    database, in the change being made."""

    def __init__(self, db: Database, key: str, path: Path, data: bytes) -> None:
        super().__init__(path, data)
        self._db, self._key = db, key

    def commit(self) -> None:
        try:
            self._db.put_file(_files, self._key, self.temporary.read_bytes())
        except BaseException:
            self.discard()
            raise
        super().commit()


class DatabaseRecords:
    """The dataset's records in the database: what :class:`~celeb.manifest.ManifestFiles` is to
    the folder store (:meth:`load`, :meth:`commit`), and its files, mirrored into ``root``."""

    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = Path(root)
        self.path = Path(db.shown())  # what messages name in place of manifest.json
        self._key = f"{db.url!r}|{os.path.abspath(self.root)}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self.db.locked(_DATASET_LOCK):
            yield

    # -- reading

    def load(self) -> _State:
        """The records as the database holds them now; files they name are fetched if missing."""
        cached = _cache.get(self._key)
        if cached is not None and not (self.root / _FILLED).exists():
            cached = None  # the working folder was deleted meanwhile: read (and fetch) it all again
        with self.db.reading() as connection:
            state = self._read(connection, cached)
        if state is not cached and self.db.current() is None:
            _cache[self._key] = state
        return state

    def _read(self, connection: sa.Connection, cached: _State | None) -> _State:
        if cached is not None:
            rows = self._changes_after(connection, cached.seq)
            if not rows:
                return cached
            if rows[0][0] == cached.seq + 1:
                return self._apply(cached, rows)
        for _ in range(5):  # a snapshot written between the two reads: read again
            snapshot = connection.execute(
                sa.select(_snapshot.c.seq, _snapshot.c.schema, _snapshot.c.manifest).where(
                    _snapshot.c.id == 1
                )
            ).first()
            seq, people = 0, {}
            if snapshot is not None:
                if snapshot.schema != SCHEMA_VERSION:
                    raise ManifestError(
                        f"the database holds records of version {snapshot.schema}; this celeb reads "
                        f"version {SCHEMA_VERSION}"
                    )
                seq, people = snapshot.seq, _parse_manifest(snapshot.manifest.encode(), self.path)
            rows = self._changes_after(connection, seq)
            if rows and rows[0][0] != seq + 1:
                continue
            state = _State(people, people, None, None, 0, "", live=True, seq=seq)
            self._fetch_missing(people.values())
            state = self._apply(state, rows) if rows else state
            with contextlib.suppress(OSError):
                (self.root / _FILLED).touch()
            return state
        raise ManifestError("the database's records kept changing while they were read; try again")

    @staticmethod
    def _changes_after(connection: sa.Connection, seq: int) -> list[tuple[int, str]]:
        query = sa.select(_changes.c.seq, _changes.c.ops).where(_changes.c.seq > seq).order_by(_changes.c.seq)
        return [tuple(row) for row in connection.execute(query)]

    def _apply(self, state: _State, rows: list[tuple[int, str]]) -> _State:
        changes = _Applier(state.people, state.index)
        named: list[str] = []
        for seq, text in rows:
            try:
                ops = json.loads(text)
            except ValueError:
                ops = None
            problem = changes.apply(ops)
            if problem:
                raise ManifestError(f"the database's change {seq} is damaged, so it is not used: {problem}")
            named += _files_named(ops, changes.people)
        self._fetch(named)
        return replace(state, people=changes.people, index=changes.index, seq=rows[-1][0])

    def _fetch_missing(self, people: Iterable[PersonRecord]) -> None:
        self._fetch([path for person in people for path in _person_files(person)])

    def _fetch(self, paths: list[str]) -> None:
        missing = [path for path in paths if not (self.root / path).exists()]
        if missing:
            self.db.fetch_files(_files, missing, self.root)

    # -- writing (in the locked transaction)

    def commit(self, state: _State, ops: list[list]) -> _State:
        """Record the change ``ops`` made to ``state`` (read under the lock); the new state."""
        connection = self.db.current()
        changes = _Applier(state.people, state.lookups())
        text = json.dumps(ops, ensure_ascii=False, separators=(",", ":"))
        problem = changes.apply(json.loads(text))  # as a reader will: the change must be usable
        if problem:
            raise DatasetError(
                f"this change would damage the dataset's records, so it is not made: {problem}"
            )
        seq = state.seq + 1
        connection.execute(sa.insert(_changes).values(seq=seq, ops=text))
        snapshot_seq = connection.scalar(sa.select(_snapshot.c.seq).where(_snapshot.c.id == 1))
        if snapshot_seq is None or seq - snapshot_seq >= SNAPSHOT_EVERY:
            # The records whole, and the changes they hold dropped (the last one stays: readers
            # that are behind see the gap after their change and read the snapshot instead).
            connection.execute(sa.delete(_snapshot).where(_snapshot.c.id == 1))
            connection.execute(
                sa.insert(_snapshot).values(
                    id=1, seq=seq, schema=SCHEMA_VERSION, manifest=manifest_text(changes.people)
                )
            )
            connection.execute(sa.delete(_changes).where(_changes.c.seq < seq))
        new = replace(state, people=changes.people, index=changes.index, seq=seq)
        self.db.after_commit(lambda: _cache.__setitem__(self._key, new))
        return new

    def stage(self, key: str, data: bytes) -> StagedFile:
        """A file to put at ``key`` when the change that names it is made (see StagedFile)."""
        return _DatabaseStagedFile(self.db, key, self.root / key, data)

    def forget_folder(self, slug: str) -> None:
        """Drop a removed person's files (in the change that removes them)."""
        connection = self.db.current()
        prefix = f"{slug}/"
        connection.execute(sa.delete(_files).where(sa.func.substr(_files.c.path, 1, len(prefix)) == prefix))

    def keep_file(self, key: str) -> None:
        """Keep the working folder's file at ``key`` (a feature cache) in the database too."""
        try:
            data = (self.root / key).read_bytes()
        except OSError:
            return
        with self.db.locked(_DATASET_LOCK):
            self.db.put_file(_files, key, data)

    def digests(self, keys: Iterable[str]) -> dict[str, str]:
        """The SHA-256 of the files of ``keys`` the database holds."""
        keys, found = sorted(set(keys)), {}
        with self.db.reading() as connection:
            for start in range(0, len(keys), 500):
                query = sa.select(_files.c.path, _files.c.sha256).where(
                    _files.c.path.in_(keys[start : start + 500])
                )
                found.update(connection.execute(query).all())
        return found

    def fetch_file(self, key: str) -> None:
        """Fetch ``key`` into the working folder when it is missing there (a feature cache)."""
        self._fetch([key])


_cache: dict[str, _State] = {}  # (database, working folder) -> the state last read or written
#: A file of the working folder, made once it was filled: while it is there, the records cached in
#: this process are its records; gone (the folder deleted, "a cache, safe to delete"), the files
#: are fetched again.
_FILLED = ".filled"


def _person_files(person: PersonRecord) -> list[str]:
    return [photo.stored for photo in person.photos.values()] + [
        f"{person.slug}/crops/{crop_id}.png" for crop_id in person.crops
    ]


def _files_named(ops: list[list], people: dict[str, PersonRecord]) -> list[str]:
    """The files a change's operations name (of the people as they are after it)."""
    named = []
    for tag, slug, *rest in ops:
        person = people.get(slug)
        if person is None:
            continue
        if tag == "person":
            named += _person_files(person)
        elif tag == "photo" and rest[0] in person.photos:
            named.append(person.photos[rest[0]].stored)
        elif tag == "crop":
            named.append(f"{slug}/crops/{rest[0]}.png")
    return named


# ---------------------------------------------------------------- the models


class DatabaseModels(ModelRegistry):
    """The models folder kept in the database; ``root`` is its working copy, brought up to date
    before each read, and written back in the transaction of each change.

    While the database has no model yet, the working copy shows the model of ``shipped`` (the
    repository's ``models/``): the app answers from its first start, and nothing is written to
    the database until the owner trains or restores one.
    """

    def __init__(
        self, db: Database, root: Path, shipped: Path | None = None, *, read_only: bool = False
    ) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        super().__init__(root, read_only=read_only)
        self.db = db
        self.shipped = shipped
        self._digests: dict[str, tuple[tuple, str]] = {}  # name -> (stat, sha256) of the working copy
        # Every registry of this working folder (the app's sessions, the CLI) brings it up to date or
        # changes it holding this: a reader's pull never puts back the database's files (or deletes
        # the new ones) while a change made in the folder is not committed yet.
        self._folder_lock = FileLock(str(self.root / ".lock"), timeout=90)

    @contextmanager
    def _folder(self) -> Iterator[None]:
        try:
            self._folder_lock.acquire()
        except Timeout as exc:
            raise ModelError("another tab is saving a model right now; try again in a moment") from exc
        try:
            yield
        finally:
            self._folder_lock.release()

    def _pull(self) -> None:
        with self._folder():
            self._pull_now()

    def _pull_now(self) -> None:
        with self.db.reading() as connection:
            wanted = dict(connection.execute(sa.select(_model_files.c.name, _model_files.c.sha256)).all())
        if not wanted and self.shipped is not None:
            wanted = self._shipped()
            for name, digest in wanted.items():
                if self._digest(name) != digest:
                    write_atomic(self.root / name, (self.shipped / name).read_bytes())
        else:
            stale = [name for name, digest in wanted.items() if self._digest(name) != digest]
            if stale:
                self.db.fetch_files(_model_files, stale, self.root)
        for name in self._local_names() - wanted.keys():
            (self.root / name).unlink(missing_ok=True)

    def _shipped(self) -> dict[str, str]:
        names = {}
        for name in ("model.joblib", "model.json"):
            with contextlib.suppress(OSError):
                names[name] = _sha((self.shipped / name).read_bytes())
        return names if "model.joblib" in names else {}

    def _local_names(self) -> set[str]:
        names = {name for name in ("model.joblib", "model.json") if (self.root / name).is_file()}
        if self.history_dir.is_dir():
            names |= {
                f"history/{path.name}"
                for path in self.history_dir.iterdir()
                if path.suffix in (".joblib", ".json")
            }
        return names

    def _digest(self, name: str) -> str:
        path = self.root / name
        try:
            info = path.stat()
        except OSError:
            return ""
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        known = self._digests.get(name)
        if known is None or known[0] != stamp:
            known = (stamp, _sha(path.read_bytes()))
            self._digests[name] = known
        return known[1]

    def _push(self) -> None:
        connection = self.db.current()
        have = dict(connection.execute(sa.select(_model_files.c.name, _model_files.c.sha256)).all())
        local = {name: self._digest(name) for name in self._local_names()}
        for name, digest in local.items():
            if have.get(name) != digest:
                self.db.put_file(_model_files, name, (self.root / name).read_bytes())
        gone = have.keys() - local.keys()
        if gone:
            connection.execute(sa.delete(_model_files).where(_model_files.c.name.in_(sorted(gone))))

    # -- what ModelRegistry reads goes through the working copy, brought up to date first

    def active_version(self) -> ModelVersion | None:
        self._pull()
        return super().active_version()

    def active_info(self) -> ModelInfo | None:
        if self.db.current() is None:
            self._pull()
        return super().active_info()

    def history(self) -> list[ModelInfo]:
        if self.db.current() is None:
            self._pull()
        return super().history()

    def load_active(self) -> ModelBundle:
        self._pull()
        return super().load_active()

    def active_bytes(self) -> bytes:
        self._pull()
        return super().active_bytes()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._folder(), self.db.locked(_MODELS_LOCK):
            self._pull()
            yield
            self._push()
