"""What every engine does: find faces, crop them, turn a crop into numbers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import CelebError

#: The shell command that installs every engine's packages: what an :class:`EngineUnavailable`
#: message, the CLI's help and the app tell a user to run.
INSTALL_ENGINES_COMMAND = "pip install -r requirements.txt"

if TYPE_CHECKING:  # the registry (engines/__init__.py) imports this module without NumPy or OpenCV
    import numpy as np

    from ..faces import Face


class EngineUnavailable(CelebError):
    """An engine's packages are not installed (the message says how to install them)."""


class Engine(ABC):
    """Finds faces, crops them, and turns a crop into a feature vector.

    A subclass is registered in ``celeb/engines/__init__.py`` and rebuilt
    from what :meth:`settings` returned (stored with every model) by
    :meth:`from_settings`.
    """

    name: ClassVar[str]
    #: Train on mirrored copies of every crop too (helps pixel features, not embeddings).
    mirror: ClassVar[bool]
    #: Answers "unknown person" by distance to the training faces (else by probability).
    open_set: ClassVar[bool] = False
    #: Parameter grids that replace model_search.CANDIDATES' defaults for this engine's features.
    grids: ClassVar[dict[str, dict]] = {}
    #: What the faces it keeps have, in the words the pages and the CLI use after "faces".
    faces_kept_as: ClassVar[str] = ""
    #: What it needs to find a face, for a user whose photo gave none.
    needs: ClassVar[str] = "a face that is not tiny, covered or turned fully away"

    @property
    def label(self) -> str:
        """Its name for people (the registry's, celeb/engines/__init__.py)."""
        from . import ENGINE_LABELS

        return ENGINE_LABELS[self.name]

    @classmethod
    def available(cls) -> bool:
        """Whether its packages are installed here (cheap after the first call)."""
        return True

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """The versions of the libraries that decide its faces and features, by name: recorded with
        every model it trains (scikit-learn, NumPy and the like are the model's own)."""
        return {}

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None = None) -> Engine:
        """The engine with a stored model's ``settings``; None: today's defaults. An engine whose
        default changed after models were stored overrides this, so that a key a stored model lacks
        takes what the engine did when that model was made."""
        return cls(**(settings or {}))

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB photo, largest first, in the photo's coordinates."""

    @abstractmethod
    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The stored crop of a face: what :meth:`features` is computed from."""

    @abstractmethod
    def features(self, crop: np.ndarray) -> np.ndarray:
        """The feature vector (float32) of one crop."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything that decides faces, crops and features, as plain values: stored with a
        model, so that ``from_settings(settings())`` rebuilds this engine."""

    def feature_key(self) -> dict[str, Any]:
        """What decides a crop's features: cached features are kept per this key."""
        return self.settings()

    @property
    @abstractmethod
    def feature_length(self) -> int: ...
