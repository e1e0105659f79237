"""The active model, and the models it replaced so that one can go back.

Layout under the models folder::

    model.joblib              the model the app and the CLI use
    model.json                its card (who it knows, how good, when; the file's SHA-256)
    history/<id>.joblib       models that were active before
    history/<id>.json         what the history list shows, read without unpickling

The cards let the app draw its first page without importing scikit-learn or
unpickling the model (about 1.5 s): a card whose SHA-256 is not the model
file's (a model copied in by hand) is made anew from the model.

Making a model active copies the current one into ``history/`` first, then
replaces ``model.joblib`` atomically: there is never a moment without an
active model, and readers see the old file or the new one, never half of one.
A file lock keeps two tabs (or the app and the CLI) from interleaving.

Model files are only ever read from this folder: joblib files can run code
when loaded, so a model is never accepted from a browser upload.

>>> import tempfile
>>> registry = ModelRegistry(tempfile.mkdtemp())
>>> registry.active_version() is None, registry.history()
(True, [])
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from .config import HISTORY_LIMIT
from .errors import ModelError, ReadOnlyError
from .storage import clean_up_once, utc_timestamp, write_atomic
from .versions import other_version_note

if TYPE_CHECKING:  # celeb.model brings scikit-learn: imported where a model is loaded or saved
    from .model import ModelBundle

_ID = re.compile(r"^[0-9A-Za-z_-]{1,80}$")


@dataclass(frozen=True)
class ModelInfo:
    """What a person needs to pick a model: who it knows, how good, when."""

    id: str
    path: Path
    trained_at: str
    test_accuracy: float | None
    classes: list[str] = field(default_factory=list)
    winner: str = ""
    archived_at: str = ""  # when it stopped being the active model ("" for the active one)
    size_bytes: int = 0
    problem: str = ""  # set when the file could not be read
    engine: str = ""
    test_faces: int | None = None
    #: Open-set models: a face farther than this from every training face is an unknown person.
    distance_threshold: float | None = None
    made_with: str = ""  # the scikit-learn version
    sha256: str = ""  # of the model file described
    #: Open-set models: the strictness saved with the model, and every fitted setting with what it
    #: did (``celeb.open_set.OperatingPoint`` as a dict), for the Classify page's choice.
    strictness: str = ""
    operating_points: list = field(default_factory=list)

    @property
    def version_note(self) -> str:
        """What load_bundle warns when the model was made with another scikit-learn ("" if not)."""
        return other_version_note(self.path.name, self.made_with) if self.made_with else ""

    def as_json(self) -> dict:
        values = asdict(self)
        values.pop("path")
        return values

    @classmethod
    def from_json(cls, values: dict, path: Path) -> ModelInfo:
        """The card as written by :meth:`as_json`; ValueError or TypeError when it is not one.

        Every field is checked as the manifest's are: a card is read by the first page without the
        model, so a wrong type there (``"classes": 5``) would break the page, not just the card.
        """
        if not isinstance(values, dict):
            raise TypeError("a model card is a JSON object")
        known = {f.name for f in fields(cls)} - {"path"}
        info = cls(path=path, **{key: value for key, value in values.items() if key in known})
        for name in known:
            if not _CARD_FIELD_OK[name](getattr(info, name)):
                raise ValueError(f"not a model card: {name} is {getattr(info, name)!r}")
        return info


def _number(value: object, low: float, high: float) -> bool:
    # bool is an int to Python, never a figure here; nan fails both comparisons.
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def _text(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 10_000


#: What each field of a model card may hold.
_CARD_FIELD_OK = {
    "id": lambda v: _text(v) and bool(v),
    "trained_at": _text,
    "test_accuracy": lambda v: v is None or _number(v, 0.0, 1.0),
    "classes": lambda v: isinstance(v, list) and all(_text(c) and c for c in v),
    "winner": _text,
    "archived_at": _text,
    "size_bytes": lambda v: _number(v, 0, 2**63) and isinstance(v, int),
    "problem": _text,
    "engine": _text,
    "test_faces": lambda v: v is None or (_number(v, 0, 2**63) and isinstance(v, int)),
    "distance_threshold": lambda v: v is None or _number(v, 0.0, 1e6),
    "made_with": _text,
    "sha256": _text,
    "strictness": _text,
    "operating_points": lambda v: isinstance(v, list) and len(v) <= 20 and all(_point(p) for p in v),
}


def _point(value: object) -> bool:
    if not isinstance(value, dict) or not _text(value.get("strictness")) or not value["strictness"]:
        return False
    measured = ("strangers_unknown", "known_named_right")
    return all(_number(value.get(key), 0.0, 10.0) for key in ("max_distance", "min_margin")) and all(
        value.get(key) is None or _number(value.get(key), 0.0, 1.0) for key in measured
    )


@dataclass(frozen=True)
class ModelVersion:
    """Identifies the active file's content: changes whenever it is replaced."""

    path: Path
    mtime_ns: int
    size: int


class ModelRegistry:
    """The models folder: one active model and a short history.

    Opened with ``read_only=True``, every change raises :class:`ReadOnlyError`.
    """

    def __init__(self, root: str | Path, *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self.active_path = self.root / "model.joblib"
        self.active_card = self.root / "model.json"
        self.history_dir = self.root / "history"
        if not read_only:
            clean_up_once(self.root)

    # -- reading

    def active_version(self) -> ModelVersion | None:
        """The active file's path, mtime and size; None when there is none."""
        try:
            status = self.active_path.stat()
        except OSError:
            return None
        return ModelVersion(self.active_path, status.st_mtime_ns, status.st_size)

    def active_info(self) -> ModelInfo | None:
        """The active model's card, None when there is none; ModelError when it is damaged.

        Read from ``model.json`` when that describes the file as it is now
        (same SHA-256); else from the model itself, and written for next
        time unless the folder is read-only.
        """
        try:
            data = self.active_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ModelError(f"the active model cannot be read ({exc.strerror or exc})") from exc
        digest = hashlib.sha256(data).hexdigest()
        try:
            card = json.loads(self.active_card.read_text(encoding="utf-8"))
            info = ModelInfo.from_json(card, self.active_path)
            if info.sha256 == digest and not info.problem:
                return info
        except (OSError, ValueError, TypeError):
            pass  # no card, or a damaged one: it is made anew
        from .model import read_bundle

        bundle, _ = read_bundle(self.active_path)  # the card carries the version note
        info = model_info(bundle, self.active_path, size_bytes=len(data), sha256=digest)
        if not self.read_only:
            with contextlib.suppress(OSError):  # only a card: the next reader makes it again
                self._write_card(info)
        return info

    def _write_card(self, info: ModelInfo) -> None:
        write_atomic(self.active_card, json.dumps(info.as_json(), indent=1).encode())

    def load_active(self) -> ModelBundle:
        """The active model (raises :class:`ModelError` when missing or damaged)."""
        from .model import load_bundle

        return load_bundle(self.active_path)

    def active_bytes(self) -> bytes:
        try:
            return self.active_path.read_bytes()
        except OSError as exc:
            raise ModelError(f"the active model cannot be read ({exc.strerror or exc})") from exc

    def history(self) -> list[ModelInfo]:
        """Models that were active before, the most recently replaced first."""
        if not self.history_dir.is_dir():
            return []
        entries = [self._info(path) for path in self.history_dir.glob("*.joblib")]
        return sorted(entries, key=lambda info: (info.archived_at, info.id), reverse=True)

    def file_names(self) -> set[str]:
        """The folder's files, by their path in it: the active model, its card, the history's."""
        names = {path.name for path in (self.active_path, self.active_card) if path.is_file()}
        if self.history_dir.is_dir():
            names |= {
                f"{self.history_dir.name}/{path.name}"
                for path in self.history_dir.iterdir()
                if path.suffix in (".joblib", ".json")
            }
        return names

    def history_path(self, model_id: str) -> Path:
        if not _ID.match(model_id or ""):
            raise ModelError(f"{model_id!r} is not a model id")
        path = self.history_dir / f"{model_id}.joblib"
        if not path.is_file():
            raise ModelError(f"there is no earlier model {model_id!r} (was it deleted?)")
        return path

    # -- changing

    def activate(self, bundle: ModelBundle) -> ModelInfo:
        """Make ``bundle`` the active model; the one it replaces goes to history. Returns its card,
        whose ``sha256`` tells later whether it is still the active one (another tab or the CLI may
        activate another)."""
        self._require_writable()
        return self._install(bundle_bytes(bundle), bundle)

    def restore(self, model_id: str) -> ModelBundle:
        """Make an earlier model active again; the current one takes its place in history."""
        self._require_writable()
        with self._locked():
            path = self.history_path(model_id)
            from .model import read_bundle

            bundle, _ = read_bundle(path)  # refuses a file that is not a celeb model
            data = path.read_bytes()
            self._install(data, bundle, locked=True)
            self._remove_entry(model_id)
        return bundle

    def delete(self, model_id: str) -> None:
        """Forget an earlier model."""
        self._require_writable()
        with self._locked():
            self.history_path(model_id)
            self._remove_entry(model_id)

    # -- internals

    def _require_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("the models folder is read-only here: only its owner can change the model")

    def _install(self, data: bytes, bundle: ModelBundle, *, locked: bool = False) -> ModelInfo:
        if not locked:
            with self._locked():
                return self._install(data, bundle, locked=True)
        try:
            current = self.active_path.read_bytes()
        except FileNotFoundError:
            current = None
        except OSError as exc:
            raise ModelError(f"the active model cannot be read ({exc.strerror or exc})") from exc
        digest = hashlib.sha256(data).hexdigest()
        info = model_info(bundle, self.active_path, size_bytes=len(data), sha256=digest)
        if current == data:
            return info  # already active: nothing to keep or replace
        try:
            if current is not None:
                self._archive(current)
            write_atomic(self.active_path, data)
            self._write_card(info)
            self._prune()
        except OSError as exc:
            raise ModelError(
                f"the model could not be saved in {self.root} ({exc.strerror or exc}); "
                "is the folder read-only?"
            ) from exc
        return info

    def _archive(self, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()[:10]
        existing = list(self.history_dir.glob(f"*-{digest}.joblib")) if self.history_dir.is_dir() else []
        if existing:
            return  # the same model is already kept
        try:
            info = self.active_info()
        except ModelError:
            info = None
        info = info or _describe(self.active_path)  # which records why it cannot be read
        stamp = re.sub(r"[^0-9]", "", info.trained_at)[:14] or "unknown"
        model_id = f"{stamp}-{digest}"
        write_atomic(self.history_dir / f"{model_id}.joblib", data)
        meta = {**info.as_json(), "id": model_id, "archived_at": utc_timestamp(), "size_bytes": len(data)}
        write_atomic(self.history_dir / f"{model_id}.json", json.dumps(meta, indent=1).encode())

    def _prune(self) -> None:
        for info in self.history()[HISTORY_LIMIT:]:
            self._remove_entry(info.id)

    def _remove_entry(self, model_id: str) -> None:
        for suffix in (".joblib", ".json"):
            (self.history_dir / f"{model_id}{suffix}").unlink(missing_ok=True)

    def _info(self, path: Path) -> ModelInfo:
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            return ModelInfo.from_json({**meta, "id": path.stem}, path)
        except (OSError, ValueError, TypeError):
            info = _describe(path)  # no sidecar (copied by hand): read the model itself
            archived = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")
            return ModelInfo(**{**asdict(info), "id": path.stem, "archived_at": archived})

    def _locked(self) -> FileLock:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.root / ".lock"), timeout=30)
            lock.acquire()
        except Timeout as exc:
            raise ModelError("another tab is saving a model right now; try again in a moment") from exc
        except OSError as exc:
            raise ModelError(
                f"the models folder {self.root} cannot be written ({exc.strerror or exc})"
            ) from exc
        return _Release(lock)


class _Release:
    """Releases an already acquired lock on leaving a ``with`` block."""

    def __init__(self, lock: FileLock) -> None:
        self._lock = lock

    def __enter__(self) -> FileLock:
        return self._lock

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def model_info(
    bundle: ModelBundle,
    path: Path | None = None,
    model_id: str = "active",
    size_bytes: int = 0,
    sha256: str = "",
) -> ModelInfo:
    """The card of a loaded bundle."""
    test_faces = bundle.metrics.get("test_size")
    rule = bundle.gallery.rule if bundle.gallery is not None else None
    return ModelInfo(
        id=model_id,
        path=path or Path(),
        trained_at=bundle.trained_at,
        test_accuracy=bundle.test_accuracy,
        classes=list(bundle.classes),
        winner=str(bundle.metrics.get("winner", "")),
        size_bytes=size_bytes,
        engine=bundle.engine,
        test_faces=int(test_faces) if test_faces else None,
        distance_threshold=rule.max_distance if rule is not None else None,
        made_with=str(bundle.versions.get("scikit-learn", "")),
        sha256=sha256,
        strictness=rule.strictness if rule is not None else "",
        operating_points=[asdict(point) for point in rule.points] if rule is not None else [],
    )


def bundle_bytes(bundle: ModelBundle) -> bytes:
    """The bundle as the bytes of a model file (for a download, or to install)."""
    from .model import save_bundle

    with tempfile.TemporaryDirectory(prefix="celeb-model-") as scratch:
        path = save_bundle(bundle, Path(scratch) / "model.joblib")
        return path.read_bytes()


def _describe(path: Path) -> ModelInfo:
    from .model import read_bundle

    try:
        bundle, _ = read_bundle(path)
    except ModelError as exc:
        return ModelInfo(id=path.stem, path=path, trained_at="", test_accuracy=None, problem=str(exc))
    data = path.read_bytes()
    return model_info(bundle, path, path.stem, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
