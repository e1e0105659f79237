"""Feature vectors of face crops, cached on disk per engine and settings, and the training set
made from a dataset's kept crops."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .engines import Engine
from .errors import DatasetError
from .faces import TrainingSet
from .images import decode_png, mirrored
from .storage import write_atomic


def crop_vectors(engine: Engine, crop: np.ndarray) -> np.ndarray:
    """A crop's feature vectors as the cache keeps them: the crop's, then its mirror's when the
    engine uses mirrored copies (one row each)."""
    views = [crop, mirrored(crop)] if engine.mirror else [crop]
    return np.stack([engine.features(view) for view in views])


def engine_cache(folder: Path, engine: Engine) -> FeatureCache:
    """The cache of ``engine`` with its present settings, in ``folder``."""
    return FeatureCache(folder, {"engine": engine.name, **engine.feature_key()})


class FeatureCache:
    """Feature vectors of crops for one engine and its settings, in one .npz file."""

    def __init__(self, folder: Path, settings: dict) -> None:
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        self.path = folder / f"features-{key}.npz"
        self.entries: dict[str, np.ndarray] = {}
        self.changed = False
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                self.entries = dict(zip(stored["ids"].tolist(), stored["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            self.entries = {}  # no cache yet, or a damaged one: it is only a cache

    def get(self, crop_id: str) -> np.ndarray | None:
        return self.entries.get(crop_id)

    def put(self, crop_id: str, vectors: np.ndarray) -> None:
        self.entries[crop_id] = vectors
        self.changed = True

    def save(self, keep: set[str]) -> bool:
        """Write the cache with the entries of ``keep`` only; whether it was written."""
        stale = self.entries.keys() - keep
        if not self.changed and not stale:
            return False
        for crop_id in stale:
            del self.entries[crop_id]
        ids = sorted(self.entries)
        buffer = io.BytesIO()
        vectors = np.stack([self.entries[i] for i in ids]) if ids else np.zeros((0, 2, 0), np.float32)
        np.savez(buffer, ids=np.asarray(ids, dtype=str), vectors=vectors)
        write_atomic(self.path, buffer.getvalue())
        self.changed = False
        return True


def training_set(
    engine: Engine,
    crops: Sequence[tuple[str, str, Path, str]],
    cache: FeatureCache,
    *,
    mirror: bool,
    on_unreadable: Callable[[str], None] | None = None,
) -> tuple[TrainingSet, list[str]]:
    """Features of ``crops`` ((person, crop id, crop file, photo sha) each), with the ids used.

    Vectors come from ``cache``, or are computed and put there. A crop whose file
    is missing or damaged raises DatasetError, or, with ``on_unreadable``, is left
    out and that callback gets a message saying which (see DatasetStore.training_set).
    """
    rows, labels, groups, copies, ids = [], [], [], [], []
    for name, crop_id, path, photo in crops:
        vectors = cache.get(crop_id)
        # A cached crop must still be on disk: training on a face the dataset no longer holds
        # would make a model nobody can rebuild (identity engines cache while cropping).
        missing = vectors is not None and not path.is_file()
        if vectors is None or missing:
            try:
                image = decode_png(path)
            except DatasetError as exc:
                if on_unreadable is None:
                    raise DatasetError(f"{exc} (a kept crop of {name})") from exc
                on_unreadable(f"{exc}: a kept crop of {name} left out")
                continue
            vectors = crop_vectors(engine, image)
            cache.put(crop_id, vectors)
        for copy, vector in enumerate(vectors[: 2 if mirror else 1]):
            rows.append(vector)
            labels.append(name)
            groups.append(photo)
            copies.append(bool(copy))
        ids.append(crop_id)
    features = np.asarray(rows, dtype=np.float32).reshape(len(rows), engine.feature_length)
    data = TrainingSet(
        features,
        np.asarray(labels, dtype=object),
        np.asarray(groups, dtype=str),
        np.asarray(copies, dtype=bool),
    )
    return data, ids
