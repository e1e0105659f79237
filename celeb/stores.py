"""Which store holds the dataset and the models: decided once, at start, for the CLI and the app.

* No database URL: the folders ``dataset/`` and ``models/`` (or ``CELEB_DATASET_DIR`` and
  ``CELEB_MODELS_DIR``) are the store: a newcomer needs no server.
* ``CELEB_DATABASE_URL`` set (or, in the app, ``[connections.celeb] url`` in Streamlit's
  secrets): the database is the store (:mod:`celeb.database`), and a working folder under
  ``CELEB_WORK_DIR`` (``~/.cache/celeb``) its cache. The repository's ``models/`` is what the
  app answers with until a model is trained or restored into the database.

>>> location = store_location("")
>>> location.database_url, location.kind
('', 'folder')
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from .config import paths
from .registry import ModelRegistry

if TYPE_CHECKING:  # SQLAlchemy and scikit-learn: imported where a store is opened
    from .database import Database
    from .dataset import DatasetStore

DATABASE_URL_VARIABLE = "CELEB_DATABASE_URL"


@dataclass(frozen=True)
class StoreLocation:
    """Where the dataset and the models are: a database (its URL) or folders."""

    database_url: str  # "" for the folders; never shown (it may hold a password)
    dataset: Path  # the dataset folder, or the database's working copy of it
    models: Path  # the models folder, or the database's working copy of it
    shipped_models: Path  # the repository's models/, the database's model until it has one

    def __repr__(self) -> str:  # the URL stays out of logs and tracebacks
        return f"StoreLocation({self.shown()!r})"

    @property
    def kind(self) -> str:
        return "database" if self.database_url else "folder"

    def shown(self) -> str:
        """Where the work is kept, for the owner to see (never a user name or password)."""
        if not self.database_url:
            return f"the folders {self.dataset} and {self.models}"
        return self.database().shown()

    def database(self) -> Database:
        from .database import database

        return database(self.database_url)

    def open_dataset(self, *, read_only: bool = False) -> DatasetStore:
        from .dataset import DatasetStore

        if not self.database_url:
            return DatasetStore(self.dataset, read_only=read_only)
        return DatasetStore(self.dataset, read_only=read_only, database=self.database())

    def open_models(self, *, read_only: bool = False) -> ModelRegistry:
        if not self.database_url:
            return ModelRegistry(self.models, read_only=read_only)
        from .database import DatabaseModels

        return DatabaseModels(self.database(), self.models, self.shipped_models, read_only=read_only)

    def active_model_path(self) -> Path:
        """The active model's file (for a database, its working copy brought up to date)."""
        registry = self.open_models(read_only=True)
        if self.database_url:
            registry.active_version()  # fetches it
        return registry.active_path


def _without_password(url: str) -> str:
    """``url`` with its password left out: what names the working folder, which is shown."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user, host = parts.netloc.rsplit("@", 1)
        return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}@{host}"))
    except ValueError:
        return url.rsplit("@", 1)[-1]


def store_location(database_url: str | None = None) -> StoreLocation:
    """The store in force: ``database_url`` when given (even ""), else ``CELEB_DATABASE_URL``."""
    if database_url is None:
        database_url = os.environ.get(DATABASE_URL_VARIABLE, "")
    database_url = database_url.strip()
    where = paths()
    if not database_url:
        return StoreLocation("", where.dataset, where.models, where.models)
    work = where.work / hashlib.sha256(_without_password(database_url).encode()).hexdigest()[:16]
    return StoreLocation(database_url, work / "dataset", work / "models", where.models)
