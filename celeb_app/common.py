"""What every page shares: the store, the active model, the sidebar card, error display.

Pages stay thin: they read widgets, call :mod:`celeb`, and draw with the
helpers here and in :mod:`celeb_app.charts`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import runpy
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile

from celeb.classify import Classifier
from celeb.config import DEFAULT_CONFIDENCE_THRESHOLD, IMAGE_SUFFIXES, paths
from celeb.dataset import DatasetStore
from celeb.engines import DEFAULT_ENGINE, ENABLE_ENGINES, ENGINE_LABELS, ENGINE_NAMES, engine_available
from celeb.errors import CelebError
from celeb.limits import Slots, return_large_buffers_to_the_system, usable_cores
from celeb.model import ModelBundle, load_bundle
from celeb.registry import ModelRegistry, ModelVersion
from celeb_app import access
from celeb_app.access import on_streamlit_cloud

logger = logging.getLogger("celeb_app")

return_large_buffers_to_the_system()


def release_uploads(uploads: Iterable[UploadedFile]) -> None:
    """Free the bytes of uploads the page will never read, now instead of when the session ends.

    Streamlit holds every uploaded file from two places until the session
    ends: its upload manager, and the widget's value (an UploadedFile over the
    same bytes). Closing the file and removing it from the manager drops both; the
    picker still lists it, and the widget no longer returns it once the
    visitor changes the selection.
    """
    context = get_script_run_ctx()
    for upload in uploads:
        if context is not None:
            context.uploaded_file_mgr.remove_file(context.session_id, upload.file_id)
        upload.close()


#: Offered in the file pickers; HEIC/HEIF too, so that the app can say plainly it cannot read them.
UPLOAD_TYPES = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES] + ["heic", "heif"]

APP_FILE = Path(__file__).resolve().parent.parent / "app.py"

# Script runs of one session happen on one thread at a time.
_run = threading.local()

# Absolute, so that they resolve whichever script Streamlit started with.
CLASSIFY_PAGE = APP_FILE.parent / "pages" / "classify.py"
DATASET_PAGE = APP_FILE.parent / "pages" / "dataset.py"
TRAIN_PAGE = APP_FILE.parent / "pages" / "train.py"


# ---------------------------------------------------------------- where we run


def cloud_note() -> None:
    """On the Cloud, say that uploads and retraining do not last."""
    if on_streamlit_cloud():
        st.info(
            "This app runs on Streamlit Community Cloud: photos you add, crops you reject and models "
            "you train here are lost when the app restarts. To keep them, download the dataset and "
            "the model, commit them to the repository (`dataset/`, `models/model.joblib`) and redeploy.",
            icon=":material/cloud:",
        )


# ---------------------------------------------------------------- engine objects


def store() -> DatasetStore:
    """The dataset in force (``CELEB_DATASET_DIR`` or ``dataset/``); read-only unless the owner asks."""
    return DatasetStore(paths().dataset, read_only=not access.is_owner())


def registry() -> ModelRegistry:
    """The models folder in force (``CELEB_MODELS_DIR`` or ``models/``); read-only unless the owner asks."""
    return ModelRegistry(paths().models, read_only=not access.is_owner())


@st.cache_resource(show_spinner=False)
def available_engines() -> tuple[str, ...]:
    """The engines installed here (the classic one always)."""
    return tuple(name for name in ENGINE_NAMES if engine_available(name))


def engine_picker() -> str:
    """The engine the Dataset and Train pages work with (shared, in the session): a picker when
    more than one engine is installed, else a note on how to install the others."""
    available = available_engines()
    if st.session_state.get("engine") not in available:
        st.session_state["engine"] = DEFAULT_ENGINE if DEFAULT_ENGINE in available else available[0]
    if len(available) == 1:
        missing = ", ".join(ENGINE_LABELS[name] for name in ENGINE_NAMES if name not in available)
        st.caption(
            f":material/extension: One engine here ({ENGINE_LABELS[available[0]]}). {missing} "
            f"(more faces found and named) needs `{ENABLE_ENGINES}`."
        )
        return available[0]
    return st.segmented_control(
        "Engine",
        available,
        format_func=ENGINE_LABELS.get,
        required=True,
        key="engine",
        help="How faces are found and described. Each engine keeps its own crops (and your rejections "
        "of them); a model is trained with, and classifies with, one engine.",
    )


@st.cache_resource(show_spinner=False)
def classify_slots() -> Slots:
    """Classifications running at once, over all sessions: one per core, the others queue."""
    return Slots(usable_cores())


@dataclass(frozen=True)
class ActiveModel:
    """The active model as loaded, with the file it came from."""

    bundle: ModelBundle
    version: ModelVersion
    warnings: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, int, int]:
        """Changes whenever the model file is replaced: use it in cache keys."""
        return (str(self.version.path), self.version.mtime_ns, self.version.size)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load_bundle(path: str, mtime_ns: int, size: int) -> tuple[ModelBundle, tuple[str, ...]]:
    # Keyed by the file's mtime and size: a newly saved model is loaded at once.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bundle = load_bundle(Path(path))
    return bundle, tuple(str(w.message) for w in caught if issubclass(w.category, UserWarning))


def load_model(model_key: tuple[str, int, int]) -> ModelBundle:
    """The bundle of the model file ``model_key`` names (see ActiveModel.key), cached."""
    return _load_bundle(*model_key)[0]


def active_model() -> ActiveModel | None:
    """The active model, or None when there is none. A damaged file raises ModelError."""
    version = registry().active_version()
    if version is None:
        return None
    bundle, notes = _load_bundle(str(version.path), version.mtime_ns, version.size)
    return ActiveModel(bundle, version, notes)


def active_model_or_problem() -> tuple[ActiveModel | None, str]:
    """The active model, or None with why it cannot be loaded (markdown-safe; "" when there is none).

    For the pages that repair a broken model, the Train page (train a new
    one, make an earlier one active) and the Dataset page (curate the crops
    to train on): they say what is wrong and keep working without it.
    """
    try:
        return active_model(), ""
    except CelebError as exc:
        return None, md(str(exc).strip() or exc.__class__.__name__)


@st.cache_resource(max_entries=8, show_spinner=False)
def _classifier(path: str, mtime_ns: int, size: int, threshold: float, distance: float | None) -> Classifier:
    bundle, _ = _load_bundle(path, mtime_ns, size)
    return Classifier(bundle, threshold=threshold, distance_threshold=distance)


def classifier(
    model_key: tuple[str, int, int],
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    distance: float | None = None,
) -> Classifier:
    """A classifier of the model file ``model_key`` names (see ActiveModel.key).

    Shared between sessions: a Classifier is thread-safe. ``distance``
    overrides an open-set model's calibrated unknown-person threshold.
    """
    distance = None if distance is None else round(float(distance), 3)
    return _classifier(*model_key, round(float(threshold), 3), distance)


# ---------------------------------------------------------------- errors


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")

#: A colon that could open a Streamlit shortcode: ":material/home:", ":streamlit:", ":smile:".
_SHORTCODE_COLON = re.compile(r":(?=[\w+-])")

#: U+2060 WORD JOINER: invisible, and not a word character, so no shortcode pattern matches across it.
WORD_JOINER = "\u2060"


def md(text: object) -> str:
    """User text (names, file names) escaped for Streamlit markdown: shown as typed, never as links.

    A backslash does not stop shortcodes: Streamlit's browser code turns
    ":material/" into ":material_" in the raw text, then finds icons, emoji
    and its logo in the parsed text, where "\\:" is a plain ":" again. An
    invisible word joiner after such a colon breaks every one of those
    patterns and leaves the name looking the same.
    """
    return _MARKDOWN.sub(r"\\\1", _SHORTCODE_COLON.sub(":" + WORD_JOINER, str(text)))


def names(values: object) -> str:
    """A list of person names for markdown."""
    return ", ".join(md(value) for value in values)  # type: ignore[union-attr]


def message(exc: BaseException) -> str:
    """An engine error's message, as a sentence."""
    text = str(exc).strip() or exc.__class__.__name__
    return text[0].upper() + text[1:]


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Show errors as messages, never as a traceback (wraps every page once, in app.py)."""
    try:
        yield
    except CelebError as exc:
        st.error(message(exc), icon=":material/error:")
    except Exception:  # Streamlit's own rerun/stop signals are BaseException and pass through
        logger.exception("a page failed")
        st.error(
            "Something went wrong on this page. Try again, or reload the page; "
            "if it keeps happening, the app's log has the details.",
            icon=":material/error:",
        )


def safe_callback(function: Callable[..., None]) -> Callable[..., None]:
    """A widget callback whose errors are shown on the page instead of a traceback.

    Callbacks run before the page script, outside :func:`friendly_errors`;
    their errors are kept and shown by :func:`show_callback_errors`.
    """

    @functools.wraps(function)
    def run(*args: object, **kwargs: object) -> None:
        try:
            function(*args, **kwargs)
        except CelebError as exc:
            st.session_state.setdefault("callback_errors", []).append(message(exc))
        except Exception:
            logger.exception("a callback failed")
            st.session_state.setdefault("callback_errors", []).append(
                "Something went wrong; nothing was changed. Try again, or reload the page."
            )

    return run


def flash(text: str) -> None:
    """A success message shown at the top of the page after the next rerun."""
    st.session_state.setdefault("flash", []).append(text)


def show_flash() -> None:
    for text in st.session_state.pop("flash", []):
        st.success(text, icon=":material/check_circle:")


def show_callback_errors() -> None:
    for text in st.session_state.pop("callback_errors", []):
        st.error(text, icon=":material/error:")


# ---------------------------------------------------------------- the sidebar card


def sidebar_model_card() -> None:
    """The active model in the sidebar: who it knows, how good, when trained."""
    with st.sidebar.container(border=True):
        st.markdown("**Active model**")
        try:
            model = active_model()
        except CelebError as exc:
            st.error(message(exc))
            if access.is_owner():
                st.page_link(TRAIN_PAGE, label="Train a new model", icon=":material/model_training:")
            return
        if model is None:
            if not access.is_owner():
                st.markdown("No model yet: the app's owner has not trained one.")
                return
            st.markdown("No model yet. Add photos of each person, find their faces, then train one.")
            st.page_link(DATASET_PAGE, label="1. Dataset", icon=":material/photo_library:")
            st.page_link(TRAIN_PAGE, label="2. Train", icon=":material/model_training:")
            return
        bundle = model.bundle
        st.markdown(f"Knows **{len(bundle.classes)}** people: " + names(bundle.classes))
        accuracy = bundle.test_accuracy
        if accuracy is not None:
            faces = bundle.metrics.get("test_size")
            on = f" on {faces} test faces" if faces else ""
            st.markdown(f"Test accuracy: **{accuracy:.0%}**{on}")
        else:
            st.markdown("Test accuracy: not recorded")
        engine = ENGINE_LABELS.get(bundle.engine, bundle.engine)
        st.caption(f"{engine} engine · trained {when(bundle.trained_at)}")
        for note in model.warnings:
            st.warning(note, icon=":material/warning:")


# ---------------------------------------------------------------- formatting


def when(iso: str) -> str:
    """An ISO time as "2025-11-25 09:27 UTC (3 days ago)"; "unknown" when empty."""
    if not iso:
        return "at an unknown time"
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC ({ago(moment)})"


def ago(moment: dt.datetime) -> str:
    seconds = (dt.datetime.now(dt.UTC) - moment).total_seconds()
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


@contextmanager
def running_app() -> Iterator[None]:
    """Marks, for this script run only, that app.py is running the page."""
    _run.via_app = True
    try:
        yield
    finally:
        _run.via_app = False


def require_owner_page() -> None:
    """At the top of an owner page: a visitor sees why and how to unlock, and nothing else."""
    if access.is_owner():
        return
    st.title("For the owner only")
    st.info(access.HOW_TO_UNLOCK, icon=":material/lock:")
    st.page_link(CLASSIFY_PAGE, label="Go to Classify", icon=":material/face:")
    st.stop()


def require_app() -> None:
    """Run a page that Streamlit started alone through app.py instead.

    With a ``pages/`` folder beside app.py, Streamlit starts each server in
    its old multipage mode: until the root URL has been opened once, a
    visitor of /dataset gets the page file alone (file names as navigation,
    no model card, no error handling). Running app.py here switches the
    server to app.py's navigation, which then shows the page asked for.
    """
    if getattr(_run, "via_app", False):
        return
    runpy.run_path(str(APP_FILE), run_name="__main__")
    st.stop()
