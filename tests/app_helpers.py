"""What the app tests share: the app under AppTest, tiny models, page texts.

Fixtures are in conftest.py: ``env`` (fresh dataset and models folders) and
``local_browser`` (the test's browser is this machine's, so the owner); an
app test file makes the latter apply to every test with
``pytestmark = pytest.mark.usefixtures("local_browser")``.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from streamlit.testing.v1 import AppTest

from celeb.auth import hash_password
from celeb.dataset import DatasetStore
from celeb.engines.wavelets import FeatureSettings
from celeb.model import ModelBundle

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the pages import celeb_app, as under `streamlit run`

APP = str(ROOT / "app.py")
OWNER_PASSWORD = "correct horse battery staple"
OWNER_HASH = hash_password(OWNER_PASSWORD)
CLASSIFY, DATASET, TRAIN = "pages/classify.py", "pages/dataset.py", "pages/train.py"
VISITOR_HEADERS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
HOSTILE = ("<img src=x onerror=alert(1)>", "[x](javascript:alert(1))")

needs_dlib = pytest.mark.skipif(
    not __import__("celeb.engines").engines.engine_available("embeddings"),
    reason="embeddings engine not installed (pip install -r requirements.txt)",
)


def tiny_bundle(classes: tuple[str, ...] = ("Ann", "Bob"), seed: int = 0) -> ModelBundle:
    """A model fitted in milliseconds on random feature vectors of the right length."""
    rng = np.random.default_rng(seed)
    length = FeatureSettings().length
    features = rng.random((12 * len(classes), length), dtype=np.float32)
    labels = np.repeat(np.asarray(classes), 12)
    estimator = LogisticRegression(max_iter=200).fit(features, labels)
    report = {name: {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 3} for name in classes}
    return ModelBundle(
        estimator=estimator,
        classes=list(classes),
        metrics={
            "test_accuracy": 0.9,
            "winner": "logistic_regression",
            "report": report,
            "confusion": np.eye(len(classes), dtype=int).tolist(),
            "test_size": 6,
            "train_size": 18,
        },
    )


def jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def app(page: str | None = None, timeout: float = 30) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    if page:
        at.switch_page(page).run()
    return at


def owner_app(password_hash: str | None = None) -> AppTest:
    """The app with an owner password set in its secrets, run once."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["celeb"] = {"owner_password_hash": password_hash or OWNER_HASH}
    return at.run()


def unlock(at: AppTest, password: str) -> AppTest:
    """Type ``password`` in the sidebar's unlock form and submit it."""
    field = next(t for t in at.sidebar.text_input if t.label == "Owner password")
    field.input(password)
    next(b for b in at.sidebar.button if b.label == "Unlock editing").click()
    return at.run()


def plain(markdown: str) -> str:
    """Markdown as read: backslash escapes and md()'s invisible word joiners removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def texts(at: AppTest) -> str:
    """Every markdown, caption and alert text on the page, as one string."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [a.value for kind in (at.error, at.warning, at.info, at.success) for a in kind]
    return "\n".join(parts)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert "Something went wrong" not in texts(at)


def store_with_photos(
    root: Path, make_photo, people: dict[str, tuple[str, int]], process: bool = True
) -> DatasetStore:
    store = DatasetStore(root)
    for index, (name, (tint, count)) in enumerate(people.items()):
        store.add_person(name)
        for seed in range(count):
            store.add_photo(name, make_photo(tint, 100 * index + seed), f"{name.lower()}-{seed}.jpg")
    if process:
        store.find_faces(workers=2)
    return store


def as_visitor(headers: dict[str, str]) -> None:
    """Make the test's browser a remote visitor behind a proxy (as on a public server)."""
    headers.update(VISITOR_HEADERS)


def editing_controls(at: AppTest) -> list[str]:
    """Labels of every button, uploader and text field that changes the dataset or the models."""
    labels = [b.label for b in at.button] + [t.label for t in at.text_input]
    labels += [u.label for u in at.get("file_uploader") if u.label != "Photos"]
    editing = ("Add", "Find faces", "Reject", "Restore", "Delete", "Rename", "Train", "Use this", "Make")
    return [label for label in labels if label.startswith(editing)]


def activate_model_near(models: Path, rgb: np.ndarray) -> None:
    """Make :func:`embeddings_bundle` around the face in ``rgb`` the active model: that face is
    an unknown person (0.65 from Ann, beyond 0.5)."""
    from celeb.engines import get_engine
    from celeb.registry import ModelRegistry

    engine = get_engine("embeddings")
    face = engine.detect(rgb)[0]
    ModelRegistry(models).activate(embeddings_bundle(engine.features(engine.crop(rgb, face))))


def embeddings_bundle(near: np.ndarray | None = None) -> ModelBundle:
    """An embeddings-engine model of Ann and Bob whose rule names within 0.5 ("balanced", saved with
    it), 0.4 ("strict") or 0.8 ("loose").

    With ``near`` (a face's embedding), Ann's faces sit 0.65 from it and Bob's
    1.2: that face is unknown at "balanced", and Ann's at "loose".
    """
    from celeb.engines.detectors import DEFAULT_DETECTOR
    from celeb.model import Gallery
    from celeb.open_set import OpenSetRule, OperatingPoint

    points = (
        OperatingPoint("strict", 0.4, 0.1, 0.99, 0.9),
        OperatingPoint("balanced", 0.5, 0.05, 0.97, 0.95),
        OperatingPoint("loose", 0.8, 0.05, 0.9, 0.99),
    )
    rule = OpenSetRule(0.5, 0.05, "balanced", points, same_person_distance=0.5)

    rng = np.random.default_rng(0)
    centre = np.zeros(128, np.float32) if near is None else near
    ways = rng.normal(size=(2, 128))
    ways /= np.linalg.norm(ways, axis=1, keepdims=True)
    noise = rng.normal(0, 0.003, (2, 12, 128))
    vectors = np.concatenate([centre + 0.65 * ways[0] + noise[0], centre + 1.2 * ways[1] + noise[1]])
    vectors = vectors.astype(np.float32)
    labels = ["Ann"] * 12 + ["Bob"] * 12
    return ModelBundle(
        estimator=LogisticRegression(max_iter=500).fit(vectors, labels),
        classes=["Ann", "Bob"],
        engine="embeddings",
        # Today's engine, which described ``near``: without settings a bundle is an older model's.
        engine_settings={"detector": DEFAULT_DETECTOR, "mirrored_mean": True},
        gallery=Gallery(vectors, labels, 0.5, rule),
        metrics={"test_accuracy": 0.95, "winner": "logistic_regression", "test_size": 6, "train_size": 18},
    )


#: Python code that defines ``mapped(size)``: whether glibc's malloc serves a buffer of ``size``
#: bytes by mmap (so that freeing it gives its pages back to the system). It first frees a 16 MB
#: buffer, which by default raises glibc's mmap threshold to 16 MB: ``mapped(4 MB)`` is then False
#: until the threshold is fixed (celeb.limits.return_large_buffers_to_the_system).
MMAP_PROBE = """
import ctypes

libc = ctypes.CDLL("libc.so.6")


class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]


libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]


def mapped(size):
    before = libc.mallinfo2().hblks
    buffer = libc.malloc(size)
    served_by_mmap = libc.mallinfo2().hblks > before
    libc.free(buffer)
    return served_by_mmap


libc.free(libc.malloc(16 << 20))
"""


def after_the_search(at: AppTest, seconds: float = 120) -> AppTest:
    """Run the page again once every background search for faces has ended (the app's page
    polls every second; an AppTest run does not)."""
    from celeb_app import background

    for search in list(background._searches().values()):
        assert search.wait(seconds), "the search for faces did not end in time"
    return at.run()
