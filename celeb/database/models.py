"""The models folder in the database (DatabaseModels), mirrored into a working copy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from filelock import FileLock, Timeout

from ..errors import ModelError
from ..manifest import content_hash
from ..registry import ModelInfo, ModelRegistry, ModelVersion
from ..storage import write_atomic
from .connection import MODEL_FILES, MODELS_LOCK, Database

if TYPE_CHECKING:
    from ..model import ModelBundle


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
            wanted = dict(connection.execute(sa.select(MODEL_FILES.c.name, MODEL_FILES.c.sha256)).all())
        if not wanted and self.shipped is not None:
            wanted = self._shipped()
            for name, digest in wanted.items():
                if self._digest(name) != digest:
                    write_atomic(self.root / name, (self.shipped / name).read_bytes())
        else:
            stale = [name for name, digest in wanted.items() if self._digest(name) != digest]
            if stale:
                self.db.fetch_files(MODEL_FILES, stale, self.root)
        for name in self.file_names() - wanted.keys():
            (self.root / name).unlink(missing_ok=True)

    def _shipped(self) -> dict[str, str]:
        names = {}
        for name in ("model.joblib", "model.json"):
            with contextlib.suppress(OSError):
                names[name] = content_hash((self.shipped / name).read_bytes())
        return names if "model.joblib" in names else {}

    def _digest(self, name: str) -> str:
        path = self.root / name
        try:
            info = path.stat()
        except OSError:
            return ""
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        known = self._digests.get(name)
        if known is None or known[0] != stamp:
            known = (stamp, content_hash(path.read_bytes()))
            self._digests[name] = known
        return known[1]

    def _push(self) -> None:
        connection = self.db.current()
        have = dict(connection.execute(sa.select(MODEL_FILES.c.name, MODEL_FILES.c.sha256)).all())
        local = {name: self._digest(name) for name in self.file_names()}
        for name, digest in local.items():
            if have.get(name) != digest:
                self.db.put_file(MODEL_FILES, name, (self.root / name).read_bytes())
        gone = have.keys() - local.keys()
        if gone:
            connection.execute(sa.delete(MODEL_FILES).where(MODEL_FILES.c.name.in_(sorted(gone))))

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
        with self._folder(), self.db.locked(MODELS_LOCK):
            self._pull()
            yield
            self._push()
