"""Face engines: how faces are found, cropped and turned into numbers, behind one registry.

Every engine does the same three things (detect, crop, featurise; see
``base.Engine``), so the dataset, training, the model file, the CLI and the
app work with any of them. One module per engine:

- ``embeddings`` (the default): a face detector (dlib's HOG, then MTCNN where
  HOG finds none; ``detectors.py``), dlib's 5-point alignment and its ResNet
  embedding; answers "unknown person" by its fitted rule (``celeb.open_set``).
- ``classic``: the recipe this project grew from: haar cascades and the
  two-eye rule (``haar.py``), raw pixels stacked with a wavelet image
  (``wavelets.py``).

A new engine is a module with an :class:`Engine` subclass and one entry in
``_ENTRIES`` (README: "Adding an engine, a page, a command").

>>> engine = get_engine("classic")
>>> engine.name, engine.feature_length
('classic', 4096)
>>> ENGINE_NAMES
('embeddings', 'classic')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from ..errors import CelebError
from .base import INSTALL_ENGINES_COMMAND, Engine, EngineUnavailable


@dataclass(frozen=True)
class EngineEntry:
    """Where an engine lives, and its name for people."""

    module: str  # under celeb.engines
    cls: str
    label: str


#: Every engine by name, the default first.
_ENTRIES = {
    "embeddings": EngineEntry("embeddings", "EmbeddingsEngine", "Embeddings (dlib ResNet)"),
    "classic": EngineEntry("classic", "ClassicEngine", "Classic (haar + wavelets, the recipe)"),
}


class _Engines(Mapping[str, type[Engine]]):
    """Engine classes by name. An engine's module (and with it OpenCV, NumPy, dlib) is imported
    when the engine is first asked for: naming engines, as the app's first page does, imports
    none of them."""

    def __getitem__(self, name: str) -> type[Engine]:
        entry = _ENTRIES[name]
        return getattr(import_module(f"{__name__}.{entry.module}"), entry.cls)

    def __iter__(self) -> Iterator[str]:
        return iter(_ENTRIES)

    def __len__(self) -> int:
        return len(_ENTRIES)


ENGINES: Mapping[str, type[Engine]] = _Engines()
DEFAULT_ENGINE = "embeddings"
#: The engine of models, crops and manifests stored before engines had names.
LEGACY_ENGINE = "classic"
ENGINE_NAMES = tuple(_ENTRIES)
ENGINE_LABELS = {name: entry.label for name, entry in _ENTRIES.items()}

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "ENGINE_LABELS",
    "ENGINE_NAMES",
    "INSTALL_ENGINES_COMMAND",
    "LEGACY_ENGINE",
    "ClassicEngine",
    "EmbeddingsEngine",
    "Engine",
    "EngineUnavailable",
    "engine_available",
    "get_engine",
]


def __getattr__(name: str) -> Any:
    """The engine classes by their class names (``from celeb.engines import ClassicEngine``)."""
    for key, entry in _ENTRIES.items():
        if entry.cls == name:
            return ENGINES[key]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_engine(name: str = DEFAULT_ENGINE, settings: dict[str, Any] | None = None) -> Engine:
    """The engine called ``name``: with no ``settings``, today's defaults; with a stored model's
    ``settings``, that model's engine (a key it lacks takes what the engine did before the key
    existed, which may differ from today's default: see the engine's ``from_settings``).

    Raises :class:`EngineUnavailable` when its packages are not installed.
    """
    if name not in ENGINES:
        raise CelebError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
    return ENGINES[name].from_settings(settings)


def engine_available(name: str) -> bool:
    """Whether ``name`` can run here (its packages are installed)."""
    return name in ENGINES and ENGINES[name].available()
