"""The old name of :mod:`celeb.model_search` (the grid search of candidate models and its held-out
figures), kept only while ``celeb/model.py`` imports :class:`TrainingResult` from here; import
from ``celeb.model_search``."""

from .model_search import TrainingResult

__all__ = ["TrainingResult"]
