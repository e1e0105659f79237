"""dlib and its model files, loaded once per core and shared by threads.

The model files come from the ``face-recognition-models`` package. Its
``__init__`` imports ``pkg_resources``, which a fresh virtual environment
with setuptools 81 or later (or none, as uv makes them) does not have, so
the files are found without importing it: ``importlib.util.find_spec``
locates a top-level package without running its code.

Only two of its files are used: the 5-point landmark model, loaded by dlib,
and the ResNet embedding, whose weights dlib_resnet.py reads (both public
domain, Davis King). The 68-point predictor in the
same package is never loaded: its training data (iBUG 300-W) excludes
commercial use.

Both must be the very files that package's version 0.3.0 installs (their
SHA-256 is checked once per process, before either is read): dlib makes
whatever sizes a model file claims (a 9 MB file claiming 2^26 cascades of
trees took 1.5 GB), and says only "Error deserializing" of a damaged one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..limits import usable_cores
from ..storage import read_regular_file
from .base import INSTALL_ENGINES_COMMAND, EngineUnavailable

FIVE_POINT_MODEL = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
#: The files face-recognition-models 0.3.0 installs (its wheel's RECORD lists the same digests).
MODEL_SHA256 = {
    FIVE_POINT_MODEL: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    EMBEDDING_MODEL: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}
_MAX_MODEL_BYTES = 64 << 20  # the two are 9 and 22 MB

T = TypeVar("T")


def model_file(name: str) -> Path:
    """The path of one of ``face-recognition-models``' files, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise EngineUnavailable(
        f"dlib's face model {name} is not installed (package face-recognition-models): "
        f"run `{INSTALL_ENGINES_COMMAND}`"
    )


def checked_model_file(name: str) -> Path:
    """:func:`model_file`, refused (EngineUnavailable) unless it is the file face-recognition-models
    0.3.0 installs, byte for byte."""
    path = model_file(name)
    reinstall = "reinstall it: `pip install --force-reinstall face-recognition-models==0.3.0`"
    try:
        data = read_regular_file(path, _MAX_MODEL_BYTES)
    except OSError as exc:
        raise EngineUnavailable(f"dlib's face model {name} cannot be read ({exc}); {reinstall}") from exc
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256[name]:
        raise EngineUnavailable(
            f"dlib's face model {name} is damaged or not the one face-recognition-models 0.3.0 installs "
            f"(its SHA-256 differs); {reinstall}"
        )
    return path


def import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        missing = f"the embeddings engine needs dlib, which is not installed: run `{INSTALL_ENGINES_COMMAND}`"
        raise EngineUnavailable(missing) from exc
    return dlib


@dataclass(frozen=True)
class DlibModels:
    """dlib and one instance of each model the embeddings engine uses."""

    dlib: Any
    hog: Any  # dlib's HOG frontal face detector (part of dlib, no file)
    predictor: Any  # 5-point landmarks


class Pool(Generic[T]):
    """Model instances for threads: dlib and OpenCV's dnn release the GIL, but one instance must
    not serve two threads at once.

    Holds at most ``size`` instances, made when first needed; a thread takes
    one for one call and gives it back.
    """

    def __init__(self, make: Callable[[], T], size: int) -> None:
        self._make, self._size = make, size
        self._free: queue.LifoQueue[T] = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def take(self) -> Iterator[T]:
        try:
            item = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self._size
                self._made += make
            if make:
                try:
                    item = self._make()
                except BaseException:
                    with self._lock:
                        self._made -= 1  # a failed load must not use up a place for good
                    raise
            else:
                item = self._free.get()
        try:
            yield item
        finally:
            self._free.put(item)


_POOL: Pool[DlibModels] | None = None
_LOADING = threading.Lock()


def dlib_pool() -> Pool[DlibModels]:
    """The process's pool of dlib model sets; EngineUnavailable when dlib or its models are missing."""
    global _POOL
    with _LOADING:
        if _POOL is None:
            dlib = import_dlib()
            five_point = str(checked_model_file(FIVE_POINT_MODEL))
            checked_model_file(EMBEDDING_MODEL)  # the engine's network (dlib_resnet.py)

            def make() -> DlibModels:
                try:
                    predictor = dlib.shape_predictor(five_point)
                except (RuntimeError, MemoryError) as exc:  # only if the file changed since it was checked
                    raise EngineUnavailable(f"dlib cannot load {FIVE_POINT_MODEL}: {exc}") from exc
                return DlibModels(dlib, dlib.get_frontal_face_detector(), predictor)

            _POOL = Pool(make, usable_cores())
        return _POOL
