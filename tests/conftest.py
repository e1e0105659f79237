"""Every fixture the test files share: isolated paths, generated photos, the shared photo set, local
web and PostgreSQL servers, dataset stores (a folder and a database), a small classic model; the
browser tests' (servers, browser, page) are in e2e_fixtures.py, registered below. A test file's own
fixture of the same name overrides these (test_manifest.py's folder-only ``store``). Plain helpers
are in helpers.py, app_helpers.py and e2e_harness.py.

Every photo the always-run tests need is made here from numpy and
scikit-image's bundled ``astronaut`` (one frontal face, found with two eyes).
Synthetic "people" are tinted, slightly noisy copies of it: the tint is what
tells them apart, the noise makes every photo's bytes different.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import PEOPLE
from PIL import Image
from postgres_server import PostgresNotInstalled, PostgresServer
from skimage import data as skdata
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from celeb.config import paths
from celeb.cropping import CropReport
from celeb.database import database
from celeb.dataset import DatasetStore
from celeb.engines.haar import FaceDetector, crop_face
from celeb.engines.wavelets import face_features
from celeb.model import ModelBundle, save_bundle
from celeb.store_copy import copy_store
from celeb.stores import StoreLocation
from celeb_app import access

#: The browser tests' fixtures (servers, browser, page).
pytest_plugins = ["e2e_fixtures"]

#: Colour multipliers of the synthetic people.
TINTS = {
    "none": (1.0, 1.0, 1.0),
    "red": (1.0, 0.55, 0.55),
    "blue": (0.55, 0.6, 1.0),
    "green": (0.6, 1.0, 0.6),
}


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reads or writes the project's own dataset/ or models/."""
    monkeypatch.setenv("CELEB_DATASET_DIR", str(tmp_path / "env-dataset"))
    monkeypatch.setenv("CELEB_MODELS_DIR", str(tmp_path / "env-models"))
    # A database set where the tests run is never written: stores are the folders unless a test
    # names its own database (db_env).
    monkeypatch.delenv("CELEB_DATABASE_URL", raising=False)
    monkeypatch.setenv("CELEB_WORK_DIR", str(tmp_path / "env-work"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Fresh dataset and models folders, set in the environment before any AppTest runs."""
    dataset, models = tmp_path / "dataset", tmp_path / "models"
    monkeypatch.setenv("CELEB_DATASET_DIR", str(dataset))
    monkeypatch.setenv("CELEB_MODELS_DIR", str(models))
    monkeypatch.delenv("CELEB_ON_CLOUD", raising=False)
    return dataset, models


@pytest.fixture
def local_browser(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test's browser is on this machine (the owner) unless it adds a proxy header.

    AppTest has no real connection; these are what a direct loopback one gives.
    Every app test file uses it for all its tests (``pytestmark``, see app_helpers.py).
    """
    headers: dict[str, str] = {"Host": "localhost:8501"}
    monkeypatch.setattr(access, "client_ip", lambda: None)
    monkeypatch.setattr(access, "request_headers", lambda: headers)
    return headers


@pytest.fixture(autouse=True)
def _real_main_module() -> Iterator[None]:
    """Put back the ``__main__`` module that an AppTest run replaces with its page script.

    Streamlit installs each script it runs as ``sys.modules["__main__"]`` and
    leaves it there; a later test that spawns processes would then have them
    re-run that page script instead of starting cleanly.
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The 512x512 RGB astronaut, read-only so no test can change it for others."""
    rgb = skdata.astronaut()
    rgb.setflags(write=False)
    return rgb


@pytest.fixture(scope="session")
def small_astronaut(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut at 256x256: its face is still found, in half the time."""
    rgb = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    rgb.setflags(write=False)
    return rgb


def tinted(rgb: np.ndarray, tint: str = "none", seed: int = 0) -> np.ndarray:
    """A copy of ``rgb`` in one person's colour, with a little seeded noise."""
    rng = np.random.default_rng(seed)
    image = rgb.astype(np.float32) * np.asarray(TINTS[tint], np.float32) * (0.92 + 0.02 * (seed % 5))
    image += rng.normal(0.0, 3.0, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(rgb: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


PhotoMaker = Callable[..., bytes]


@pytest.fixture(scope="session")
def tint_image() -> Callable[..., np.ndarray]:
    """``tint_image(rgb, tint, seed)``: see :func:`tinted`."""
    return tinted


@pytest.fixture(scope="session")
def encode_image() -> Callable[..., bytes]:
    """``encode_image(rgb, fmt="JPEG")``: the bytes of an array saved by Pillow."""
    return encode


@pytest.fixture(scope="session")
def make_photo(small_astronaut: np.ndarray) -> PhotoMaker:
    """``make_photo(tint, seed, fmt="JPEG")``: the bytes of one synthetic person's photo."""

    def make(tint: str = "none", seed: int = 0, fmt: str = "JPEG") -> bytes:
        return encode(tinted(small_astronaut, tint, seed), fmt)

    return make


@pytest.fixture(scope="session")
def make_person_folders(make_photo: PhotoMaker) -> Callable[[Path, dict[str, tuple[str, int]]], Path]:
    """``make(root, {"Ada": ("red", 5)})``: one sub-folder of photos per person."""

    def make(root: Path, people: dict[str, tuple[str, int]]) -> Path:
        for index, (name, (tint, count)) in enumerate(people.items()):
            folder = root / name
            folder.mkdir(parents=True)
            for seed in range(count):
                (folder / f"{name.lower()} {seed}.jpg").write_bytes(make_photo(tint, 100 * index + seed))
        return root

    return make


@pytest.fixture(scope="session")
def shared_photos() -> Path:
    """The shared sports-celebrities set, or a skip that says how to point at it."""
    root = paths().shared_photos
    if not (root / "raw").is_dir():
        pytest.skip(f"shared photo set not found at {root}: set CELEB_SHARED_PHOTOS")
    return root


# ---------------------------------------------------------------- a local web server


class Site:
    """What the test server serves: path -> (status, headers, body, seconds to wait between chunks)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
        self.requests: list[str] = []


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append(self.path)
            status, headers, body, pause = site.routes.get(self.path, (404, {}, b"not here", 0.0))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers and not headers.get("X-Unknown-Length"):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for start in range(0, len(body), 16 * 1024):
                    self.wfile.write(body[start : start + 16 * 1024])
                    self.wfile.flush()
                    if pause:
                        time.sleep(pause)  # a slow server, on purpose
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _serve() -> Iterator[tuple[Site, str]]:
    served = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    """A local web server: (what it serves, its http://127.0.0.1:port)."""
    yield from _serve()


@pytest.fixture
def other_site() -> Iterator[tuple[Site, str]]:
    """A second local web server on another port, like :func:`site`."""
    yield from _serve()


def jpeg_route(body: bytes, pause: float = 0.0) -> tuple[int, dict[str, str], bytes, float]:
    """A route of :class:`Site` that serves ``body`` as a JPEG (``pause``: seconds between chunks)."""
    return 200, {"Content-Type": "image/jpeg"}, body, pause


@pytest.fixture
def shown_images(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """(image, width) of every st.image the pages show (AppTest runs them in this process)."""
    import streamlit

    shown: list[tuple[object, object]] = []
    real = streamlit.image

    def image(source, *args, **kwargs):
        shown.append((source, kwargs.get("width", "content")))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(streamlit, "image", image)
    return shown


# ---------------------------------------------------------------- a local PostgreSQL server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This session's own PostgreSQL server (see postgres_server.py), or a skip that says how to get one.

    With ``CI=true`` a missing server fails instead: CI installs it, so a skip there would hide a
    broken setup.
    """
    try:
        server = PostgresServer.start()
    except PostgresNotInstalled as missing:
        reason = f"PostgreSQL is not installed: apt-get install postgresql (.ci/run installs it) ({missing})"
    else:
        yield server
        server.stop()
        return
    # Outside the except block, so the report is the reason alone, not a chained traceback.
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database of this test's own (dropped afterwards)."""
    # Lower-case letters, digits and _ need no quoting in SQL or URLs; 63 bytes is PostgreSQL's limit.
    label = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())
    name = f"t{uuid.uuid4().hex[:8]}_{label}"[:63]
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture
def db_env(env: tuple[Path, Path], postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The app and the CLI pointed at a fresh PostgreSQL database (its URL); the folders of
    ``env`` stay empty."""
    monkeypatch.setenv("CELEB_DATABASE_URL", postgres_url)
    return postgres_url


# ---------------------------------------------------------------- dataset stores, folder and database

#: Every test of the store runs against both stores: the folder and a real PostgreSQL database.
STORES = ["folder", "postgresql"]


def open_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> DatasetStore:
    """An empty store of ``kind``; a database's working copy is in ``tmp_path / "work"``."""
    if kind == "folder":
        return DatasetStore(tmp_path / "dataset")
    return DatasetStore(tmp_path / "work", database=database(request.getfixturevalue("postgres_url")))


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DatasetStore:
    """An empty store, once a folder and once a database.

    Test files about one store's own files define a ``store`` of their own (test_manifest.py's).
    """
    return open_store(request.param, tmp_path, request)


@pytest.fixture(scope="session")
def template_root(tmp_path_factory: pytest.TempPathFactory, make_photo) -> Path:
    """A store with Ada (4 red photos) and Bo (4 blue ones), faces found: 8 kept crops.

    Found by the classic engine: the tint that tells these people apart is what
    its features see (embeddings ignore it), and the training-data tests
    (test_feature_cache.py) check its 4096 features, mirrored copies and feature cache.
    """
    root = tmp_path_factory.mktemp("template") / "dataset"
    store = DatasetStore(root)
    for name, tint, offset in (("Ada", "red", 0), ("Bo", "blue", 10)):
        store.add_person(name)
        for seed in range(4):
            report = store.add_photo(name, make_photo(tint, offset + seed), f"{name} {seed}.jpg")
            assert report.added == [f"{name} {seed}.jpg"]
    calls = []
    report = store.find_faces(
        engine="classic", progress=lambda done, total: calls.append((done, total)), workers=2
    )
    assert report == CropReport(photos=8, faces=8, clean_faces=8, kept=8)
    assert calls == [(done, 8) for done in range(1, 9)]
    return root


@pytest.fixture(params=STORES)
def cropped(template_root: Path, tmp_path: Path, request: pytest.FixtureRequest) -> DatasetStore:
    """A private copy of the template store (for a database, made by ``store copy``)."""
    if request.param == "folder":
        root = tmp_path / "dataset"
        shutil.copytree(template_root, root)
        return DatasetStore(root)
    store = open_store(request.param, tmp_path, request)
    source = StoreLocation("", template_root, tmp_path / "no-models", tmp_path / "no-models")
    url = request.getfixturevalue("postgres_url")
    target = StoreLocation(url, store.root, tmp_path / "models", tmp_path / "models")
    assert not copy_store(source, target).problems
    return store


# ---------------------------------------------------------------- three tinted people: a model, photos


@pytest.fixture(scope="module")
def bundle(small_astronaut: np.ndarray, tint_image) -> ModelBundle:
    """A logistic regression on the features of each person's face crops (helpers.PEOPLE)."""
    face = FaceDetector().detect(small_astronaut)[0]
    rows, labels = [], []
    for person, tint in PEOPLE.items():
        for seed in range(200, 206):
            crop = crop_face(tint_image(small_astronaut, tint, seed), face, 128)
            rows.append(face_features(crop))
            labels.append(person)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1e-3, max_iter=2000))
    estimator.fit(np.asarray(rows), labels)
    return ModelBundle(estimator=estimator, classes=[str(c) for c in estimator.classes_])


@pytest.fixture(scope="module")
def model_path(bundle: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bundle`` saved to a model file."""
    return save_bundle(bundle, tmp_path_factory.mktemp("models") / "model.joblib")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, make_photo) -> dict[str, Path]:
    """One photo per person, a text file, and a photo without any face."""
    folder = tmp_path_factory.mktemp("photos")
    files = {}
    for person, tint in PEOPLE.items():
        files[person] = folder / f"{person} (1).jpg"
        files[person].write_bytes(make_photo(tint, 7))
    files["text"] = folder / "bad.txt"
    files["text"].write_text("not a photo")
    files["blank"] = folder / "blank.png"
    files["blank"].write_bytes(cv2.imencode(".png", np.full((200, 300, 3), 90, np.uint8))[1].tobytes())
    return files
