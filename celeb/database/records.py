"""The dataset's records and files in the database (DatabaseRecords), mirrored into a working folder."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from ..config import SNAPSHOT_EVERY
from ..errors import DatasetError, ManifestError
from ..manifest import PersonRecord, _Applier, _parse_manifest, _State, manifest_text
from ..storage import StagedFile
from .connection import CHANGES, DATASET_LOCK, FILES, SCHEMA_VERSION, SNAPSHOT, Database


class _DatabaseStagedFile(StagedFile):
    """A file written beside its place in the working folder; :meth:`commit` also writes it to the
    database, in the change being made."""

    def __init__(self, db: Database, key: str, path: Path, data: bytes) -> None:
        super().__init__(path, data)
        self._db, self._key = db, key

    def commit(self) -> None:
        try:
            self._db.put_file(FILES, self._key, self.temporary.read_bytes())
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
        with self.db.locked(DATASET_LOCK):
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
                sa.select(SNAPSHOT.c.seq, SNAPSHOT.c.schema, SNAPSHOT.c.manifest).where(SNAPSHOT.c.id == 1)
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
        query = sa.select(CHANGES.c.seq, CHANGES.c.ops).where(CHANGES.c.seq > seq).order_by(CHANGES.c.seq)
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
            self.db.fetch_files(FILES, missing, self.root)

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
        connection.execute(sa.insert(CHANGES).values(seq=seq, ops=text))
        snapshot_seq = connection.scalar(sa.select(SNAPSHOT.c.seq).where(SNAPSHOT.c.id == 1))
        if snapshot_seq is None or seq - snapshot_seq >= SNAPSHOT_EVERY:
            # The records whole, and the changes they hold dropped (the last one stays: readers
            # that are behind see the gap after their change and read the snapshot instead).
            connection.execute(sa.delete(SNAPSHOT).where(SNAPSHOT.c.id == 1))
            connection.execute(
                sa.insert(SNAPSHOT).values(
                    id=1, seq=seq, schema=SCHEMA_VERSION, manifest=manifest_text(changes.people)
                )
            )
            connection.execute(sa.delete(CHANGES).where(CHANGES.c.seq < seq))
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
        connection.execute(sa.delete(FILES).where(sa.func.substr(FILES.c.path, 1, len(prefix)) == prefix))

    def keep_file(self, key: str) -> None:
        """Keep the working folder's file at ``key`` (a feature cache) in the database too."""
        try:
            data = (self.root / key).read_bytes()
        except OSError:
            return
        with self.db.locked(DATASET_LOCK):
            self.db.put_file(FILES, key, data)

    def digests(self, keys: Iterable[str]) -> dict[str, str]:
        """The SHA-256 of the files of ``keys`` the database holds."""
        keys, found = sorted(set(keys)), {}
        with self.db.reading() as connection:
            for start in range(0, len(keys), 500):
                query = sa.select(FILES.c.path, FILES.c.sha256).where(
                    FILES.c.path.in_(keys[start : start + 500])
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
