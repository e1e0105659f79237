"""Recognise a handful of people in photos: the engine library (no Streamlit).

The names an app or a script needs are here, each imported from its module on first use
(``_EXPORTS``), so ``import celeb`` costs nothing and scikit-learn is loaded only by training or
classifying. The app (``app.py``, ``pages/``, ``celeb_app/``) imports from here only: the modules
behind these names can change without touching it. By what they are for::

    photos        read_image, IMAGE_SUFFIXES, the upload limits                 (images, config)
    engines       get_engine, Engine, ENGINES, ENGINE_NAMES, ENGINE_LABELS,      (engines)
                  INSTALL_ENGINES_COMMAND (how to install their packages)
    the dataset   DatasetStore, its crops (Crop, KEPT, REJECTED, PersonSummary),
                  imports (AddReport, UrlJob), Find faces (CropReport), flags    (dataset, manifest,
                                                    archive, url_import, web, cropping, curation)
    training      train_from_store by a Recipe (FULL_SEARCH, SHORT_SEARCH,
                  Recipe.quick), compare_engines, train_best_model, their results
                                                                (training, model_search)
    models        ModelRegistry, ModelInfo, ModelBundle, read_bundle             (registry, model)
    classifying   Classifier, FacePrediction, OpenSetRule; an album sorted, strangers grouped
                                                              (classify, open_set, sort/, strangers)
    drawing       draw_boxes, Label, thumbnail, face_view, review_image          (draw)
    the store     store_location, StoreLocation: folders or a database           (stores)
    the server    PasswordGuard, Slots, usable_cores                             (auth, limits)
    errors        CelebError and its kinds                                       (errors)

>>> import tempfile
>>> import celeb
>>> store = celeb.DatasetStore(tempfile.mkdtemp())
>>> store.add_person("Serena Williams").slug
'serena_williams'
>>> issubclass(celeb.DatasetError, celeb.CelebError)
True
"""

# ruff: noqa: F401 (the imports under TYPE_CHECKING are what this module lends, see _EXPORTS)
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names as _EXPORTS, for type checkers and editors
    from .archive import AddReport, preview_paths, preview_zip_people
    from .auth import PasswordGuard
    from .classify import Classifier, FacePrediction, PhotoPrediction
    from .config import (
        CLASSIFY_DETAILS_MAX_PHOTOS,
        CONFUSION_HEATMAP_MAX_PEOPLE,
        CROPS_PER_PAGE,
        DEFAULT_CONFIDENCE_THRESHOLD,
        HISTORY_LIMIT,
        IMAGE_SUFFIXES,
        MAX_UPLOAD_MB,
        PEOPLE_SEARCH_FROM,
        PEOPLE_TABLE_HEIGHT,
        TOP_CANDIDATES,
        UPLOADS_PARSED_AT_ONCE,
        VISITOR_MAX_FILES,
        VISITOR_MAX_UPLOAD_MB,
    )
    from .cropping import CropReport
    from .curation import FLAG_NAMES, Flag, FlagSettings, flag_crops, flagged_first, model_knows
    from .dataset import DatasetStore
    from .draw import DOUBT, PLAIN, REVIEW_SIZE, SURE, Label, draw_boxes, face_view, review_image, thumbnail
    from .engines import (
        DEFAULT_ENGINE,
        ENGINE_LABELS,
        ENGINE_NAMES,
        ENGINES,
        Engine,
        engine_available,
        get_engine,
    )
    from .engines.base import INSTALL_ENGINES_COMMAND
    from .errors import CelebError, DatasetError, ImageError, ModelError, ReadOnlyError, TrainingError
    from .faces import Box, Face, TrainingSet
    from .images import read_image
    from .limits import Slots, return_large_buffers_to_the_system, usable_cores
    from .manifest import KEPT, REJECTED, Crop, PersonSummary
    from .model import ModelBundle, read_bundle
    from .model_search import (
        CANDIDATES,
        PhotoScore,
        TrainingResult,
        most_confused,
        timings_text,
        train_best_model,
    )
    from .names import same_person
    from .open_set import OpenSetRule
    from .registry import ModelInfo, ModelRegistry, ModelVersion, bundle_bytes
    from .sort.download import sorted_zip
    from .sort.report import SortedPhoto, SortReport, report_csv, sorted_photo
    from .sort.unknown_folder import group_strangers
    from .stores import StoreLocation, store_location
    from .strangers import UnknownFace, group_unknown, grouping_distance
    from .training import FULL_SEARCH, SHORT_SEARCH, Recipe, compare_engines, train_from_store
    from .url_import import UrlJob, UrlReport, import_urls, read_url_csv, read_url_lines
    from .web import FetchSettings

#: Each module (under celeb) and the names it lends to this one.
_EXPORTS = {
    "archive": ("AddReport", "preview_paths", "preview_zip_people"),
    "auth": ("PasswordGuard",),
    "classify": ("Classifier", "FacePrediction", "PhotoPrediction"),
    "config": (
        "CLASSIFY_DETAILS_MAX_PHOTOS",
        "CONFUSION_HEATMAP_MAX_PEOPLE",
        "CROPS_PER_PAGE",
        "DEFAULT_CONFIDENCE_THRESHOLD",
        "HISTORY_LIMIT",
        "IMAGE_SUFFIXES",
        "MAX_UPLOAD_MB",
        "PEOPLE_SEARCH_FROM",
        "PEOPLE_TABLE_HEIGHT",
        "TOP_CANDIDATES",
        "UPLOADS_PARSED_AT_ONCE",
        "VISITOR_MAX_FILES",
        "VISITOR_MAX_UPLOAD_MB",
    ),
    "cropping": ("CropReport",),
    "curation": ("FLAG_NAMES", "Flag", "FlagSettings", "flag_crops", "flagged_first", "model_knows"),
    "dataset": ("DatasetStore",),
    "draw": (
        "DOUBT",
        "PLAIN",
        "REVIEW_SIZE",
        "SURE",
        "Label",
        "draw_boxes",
        "face_view",
        "review_image",
        "thumbnail",
    ),
    "engines": (
        "DEFAULT_ENGINE",
        "ENGINE_LABELS",
        "ENGINE_NAMES",
        "ENGINES",
        "Engine",
        "engine_available",
        "get_engine",
    ),
    "engines.base": ("INSTALL_ENGINES_COMMAND",),
    "errors": ("CelebError", "DatasetError", "ImageError", "ModelError", "ReadOnlyError", "TrainingError"),
    "faces": ("Box", "Face", "TrainingSet"),
    "images": ("read_image",),
    "limits": ("Slots", "return_large_buffers_to_the_system", "usable_cores"),
    "manifest": ("KEPT", "REJECTED", "Crop", "PersonSummary"),
    "model": ("ModelBundle", "read_bundle"),
    "model_search": (
        "CANDIDATES",
        "PhotoScore",
        "TrainingResult",
        "most_confused",
        "timings_text",
        "train_best_model",
    ),
    "names": ("same_person",),
    "open_set": ("OpenSetRule",),
    "registry": ("ModelInfo", "ModelRegistry", "ModelVersion", "bundle_bytes"),
    "sort.download": ("sorted_zip",),
    "sort.report": ("SortReport", "SortedPhoto", "report_csv", "sorted_photo"),
    "sort.unknown_folder": ("group_strangers",),
    "stores": ("StoreLocation", "store_location"),
    "strangers": ("UnknownFace", "group_unknown", "grouping_distance"),
    "training": ("FULL_SEARCH", "SHORT_SEARCH", "Recipe", "compare_engines", "train_from_store"),
    "url_import": ("UrlJob", "UrlReport", "import_urls", "read_url_csv", "read_url_lines"),
    "web": ("FetchSettings",),
}
#: Each exported name and the module it comes from.
_HOMES = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'celeb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # found directly next time
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
