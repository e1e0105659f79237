"""The Streamlit app, page by page, with streamlit.testing's AppTest.

Every test points CELEB_DATASET_DIR and CELEB_MODELS_DIR at its own tmp
folders before the app runs. Photos are the bundled scikit-image astronaut
(tinted copies play different people, see conftest.py); models are trained
here, tiny, on synthetic or astronaut data.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from streamlit.testing.v1 import AppTest

from celeb.auth import hash_password
from celeb.dataset import KEPT, REJECTED, DatasetStore
from celeb.features import FeatureSettings
from celeb.model import ModelBundle
from celeb.registry import ModelRegistry
from celeb_app import access

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the pages import celeb_app, as under `streamlit run`

APP = str(ROOT / "app.py")
OWNER_PASSWORD = "correct horse battery staple"
OWNER_HASH = hash_password(OWNER_PASSWORD)
CLASSIFY, DATASET, TRAIN = "pages/classify.py", "pages/dataset.py", "pages/train.py"


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def local_browser(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every test's browser is on this machine (the owner) unless it adds a proxy header.

    AppTest has no real connection; these are what a direct loopback one gives.
    """
    headers: dict[str, str] = {"Host": "localhost:8501"}
    monkeypatch.setattr(access, "client_ip", lambda: None)
    monkeypatch.setattr(access, "request_headers", lambda: headers)
    return headers


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Fresh dataset and models folders, set in the environment before any AppTest runs."""
    dataset, models = tmp_path / "dataset", tmp_path / "models"
    monkeypatch.setenv("CELEB_DATASET_DIR", str(dataset))
    monkeypatch.setenv("CELEB_MODELS_DIR", str(models))
    monkeypatch.delenv("CELEB_ON_CLOUD", raising=False)
    return dataset, models


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


def test_user_text_is_escaped_for_markdown():
    from celeb_app.common import md

    assert md("[click](http://x.example)") == r"\[click\]\(http\://x\.example\)"
    assert plain(md("*Ann* :red[Bo] `c` <b>")) == "*Ann* :red[Bo] `c` <b>"


# ---------------------------------------------------------------- every page renders


@pytest.mark.parametrize("page", [None, CLASSIFY, DATASET, TRAIN])
def test_every_page_renders_without_a_model(env, page):
    at = app(page)
    assert_clean(at)
    assert not at.error
    sidebar = "\n".join(m.value for m in at.sidebar.markdown)
    assert "No model yet" in sidebar


def test_every_page_renders_with_a_model_and_data(env, make_photo):
    dataset, models = env
    ModelRegistry(models).activate(tiny_bundle())
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    at = app()
    assert "Knows **2** people" in "\n".join(m.value for m in at.sidebar.markdown)
    for page in (CLASSIFY, DATASET, TRAIN):
        at.switch_page(page).run()
        assert_clean(at)
        assert not at.error, [e.value for e in at.error]


def test_cloud_note_on_dataset_and_train(env, monkeypatch):
    monkeypatch.setenv("CELEB_ON_CLOUD", "1")  # on the Cloud, even a loopback browser must unlock
    for page in (DATASET, TRAIN):
        at = owner_app()
        unlock(at, OWNER_PASSWORD)
        at.switch_page(page).run()
        assert any("Community Cloud" in i.value for i in at.info), page


def test_every_file_picker_and_the_server_share_one_upload_limit(env, make_photo):
    # A picker allowing more than the server takes let a 60 MB file through to a bare
    # "AxiosError: Request failed with status code 413"; within the limit the browser itself
    # says "File must be 50MB or smaller" before sending anything.
    import tomllib

    from celeb.config import MAX_UPLOAD_MB
    from celeb.images import MAX_FILE_BYTES

    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] == MAX_UPLOAD_MB
    assert MAX_FILE_BYTES == MAX_UPLOAD_MB * 1024 * 1024
    dataset, models = env
    ModelRegistry(models).activate(tiny_bundle())
    store_with_photos(dataset, make_photo, {"Ann": ("red", 1)}, process=False)
    at = app()
    limits = {u.label: u.proto.max_upload_size_mb for u in at.get("file_uploader")}
    at.switch_page(DATASET).run()
    assert_clean(at)
    limits |= {u.label: u.proto.max_upload_size_mb for u in at.get("file_uploader")}
    assert len(limits) == 6, limits  # Classify's photos; Dataset's people zip, folder, CSV, photos, folder
    assert set(limits.values()) == {MAX_UPLOAD_MB}, limits


# ---------------------------------------------------------------- classify


def test_classify_names_the_face_in_an_uploaded_photo(env, astronaut):
    _, models = env
    ModelRegistry(models).activate(tiny_bundle())
    at = app()
    at.file_uploader(key="photos").set_value(("astronaut.jpg", jpeg(astronaut), "image/jpeg")).run()
    assert_clean(at)
    assert not at.error
    face = next(m.value for m in at.markdown if "Face 1" in m.value)
    assert any(name in face for name in ("Ann", "Bob")) and "%" in face
    assert len(at.image) >= 2  # the photo with its boxes, and the face crop
    assert any("1 face" in m.value for m in at.markdown)


def test_bad_files_are_reported_and_the_others_still_classified(env, astronaut):
    _, models = env
    ModelRegistry(models).activate(tiny_bundle())
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    at = app()
    at.file_uploader(key="photos").set_value(
        [
            ("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg"),
            ("iphone.heic", heic, "image/heic"),
            ("astronaut.jpg", jpeg(astronaut), "image/jpeg"),
        ]
    ).run()
    assert_clean(at)
    errors = [plain(e.value) for e in at.error]
    assert len(errors) == 2
    assert "broken.jpg" in errors[0]
    assert "HEIC" in errors[1]
    assert any("Face 1" in m.value for m in at.markdown)


def test_a_photo_without_a_face_says_what_is_needed(env):
    _, models = env
    ModelRegistry(models).activate(tiny_bundle())
    at = app()
    gray = np.full((200, 300, 3), 128, np.uint8)
    at.file_uploader(key="photos").set_value(("wall.jpg", jpeg(gray), "image/jpeg")).run()
    assert_clean(at)
    assert any("No face found" in w.value and "both eyes" in w.value for w in at.warning)
    assert len(at.image) == 1


def test_a_newly_activated_model_is_used_at_once(env, astronaut):
    _, models = env
    registry = ModelRegistry(models)
    registry.activate(tiny_bundle(("Ann", "Bob")))
    at = app()
    at.file_uploader(key="photos").set_value(("astronaut.jpg", jpeg(astronaut), "image/jpeg")).run()
    registry.activate(tiny_bundle(("Cid", "Dee"), seed=1))
    at.run()
    face = next(m.value for m in at.markdown if "Face 1" in m.value)
    assert "Cid" in face or "Dee" in face


# ---------------------------------------------------------------- dataset


def test_reject_and_restore_a_crop(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    crop_id = store.crops("Ann")[0].record.id

    def status() -> str:
        manifest = json.loads((dataset / "manifest.json").read_text())
        return next(iter(manifest["people"].values()))["crops"][crop_id]["status"]

    at = app(DATASET)
    assert_clean(at)
    assert len(at.image) >= 2  # the crop grid
    at.button(key=f"reject_{crop_id}").click().run()
    assert_clean(at)
    assert status() == REJECTED
    at.segmented_control(key="crop_filter").set_value("Rejected").run()
    assert at.button(key=f"reject_{crop_id}").label == "Restore"
    at.button(key=f"reject_{crop_id}").click().run()
    assert_clean(at)
    assert status() == KEPT


def test_reject_selected_crops(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 3)})
    ids = [c.record.id for c in store.crops("Ann")]
    at = app(DATASET)
    at.checkbox(key=f"select_{ids[0]}").check()
    at.checkbox(key=f"select_{ids[1]}").check().run()
    assert at.button(key="reject_selected").label == "Reject selected (2)"
    at.button(key="reject_selected").click().run()
    assert_clean(at)
    assert {c.record.id: c.record.status for c in store.crops("Ann")} == {
        ids[0]: REJECTED,
        ids[1]: REJECTED,
        ids[2]: KEPT,
    }


def test_add_a_person_validates_the_name(env):
    dataset, _ = env
    at = app(DATASET)
    at.text_input[0].input("../etc")
    at.button[0].click().run()  # the form's "Add person"
    assert_clean(at)
    assert any("cannot contain '/'" in e.value for e in at.error)
    at.text_input[0].input("Serena Williams")
    at.button[0].click().run()
    assert_clean(at)
    assert [p.name for p in DatasetStore(dataset).people()] == ["Serena Williams"]
    assert at.selectbox(key="person").value == "Serena Williams"


def test_upload_photos_then_find_faces(env, make_photo):
    dataset, _ = env
    DatasetStore(dataset).add_person("Ann")
    at = app(DATASET)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("a/ann-2.jpg", make_photo("red", 2))
        archive.writestr("notes.txt", "hello")
    at.file_uploader(key="add_files_0").set_value(
        [
            ("ann-1.jpg", make_photo("red", 1), "image/jpeg"),
            ("again.jpg", make_photo("red", 1), "image/jpeg"),  # the same bytes: a duplicate
            ("photos.zip", zipped.getvalue(), "application/zip"),
        ]
    ).run()
    add = next(b for b in at.button if b.label.startswith("Add 3 files"))
    add.click().run()
    assert_clean(at)
    assert any("Added 2 photos" in s.value for s in at.success)
    skipped = at.dataframe[-1].value
    assert set(skipped["file"]) == {"again.jpg", "notes.txt"}
    find = next(b for b in at.button if b.label.startswith("Find faces in 2 new photos"))
    find.click().run()
    assert_clean(at)
    summary = DatasetStore(dataset).people()[0]
    assert summary.unprocessed == 0 and summary.kept == 2
    assert any("Searched 2 photos" in s.value for s in at.success)


def test_delete_a_person_asks_first(env, make_photo):
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 1), "Bob": ("blue", 1)}, process=False)
    at = app(DATASET)
    delete = next(b for b in at.button if b.label == "Delete Ann…")
    delete.click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert len(DatasetStore(dataset).people()) == 2
    next(b for b in at.button if b.label == "Yes, delete Ann").click().run()
    assert_clean(at)
    assert [p.name for p in DatasetStore(dataset).people()] == ["Bob"]


# ---------------------------------------------------------------- train


def test_train_shows_figures_and_use_this_model_keeps_the_previous(env, make_photo):
    dataset, models = env
    registry = ModelRegistry(models)
    registry.activate(tiny_bundle())
    store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})
    at = app(TRAIN, timeout=90)
    at.multiselect(key="train_models").set_value(["svm_linear"])
    at.slider(key="train_folds").set_value(2)
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert any(m.label == "Test accuracy" for m in at.metric)
    reports = [d.value for d in at.dataframe if "precision" in d.value.columns]
    assert len(reports) == 2  # the new model's and the active one's, side by side
    assert {"Ann", "Bob"} <= set(reports[0].index)
    assert len(at.image) >= 2  # both confusion heatmaps (st.pyplot)
    before = registry.active_bytes()

    next(b for b in at.button if b.label == "Use this model").click().run()
    assert_clean(at)
    assert (models / "model.joblib").is_file()
    assert registry.active_bytes() != before
    history = registry.history()
    assert len(history) == 1 and history[0].path.read_bytes() == before
    assert registry.load_active().classes == ["Ann", "Bob"]
    assert any("is active" in s.value for s in at.success)
    assert any(b.label == "Make active" for b in at.button)

    next(b for b in at.button if b.label == "Make active").click().run()
    assert_clean(at)
    assert registry.active_bytes() == before


def test_train_with_too_little_data_says_what_to_do(env, make_photo):
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2), "Bob": ("blue", 2)})
    at = app(TRAIN, timeout=60)
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    assert any("at least" in e.value for e in at.error)
    assert any("What to do" in m.value for m in at.markdown)
    assert "trained" not in at.session_state


def _headline_page(same_people: bool) -> None:
    import numpy as np

    from celeb.model import ModelBundle
    from celeb.train import TrainingResult
    from celeb_app.models import headline

    result = TrainingResult(
        estimator=None, classes=["Ann", "Bob"], candidates=[], winner="svm_rbf", test_accuracy=0.9,
        report={}, report_text="", confusion=np.zeros((2, 2)), train_size=8, test_size=4,
    )  # fmt: skip
    people = ["Bob", "Ann"] if same_people else ["Ann", "Bob", "Cid"]
    headline(result, ModelBundle(estimator=None, classes=people, metrics={"test_accuracy": 0.8}))


@pytest.mark.parametrize(("same_people", "delta"), [(True, "+10.0 points vs the active model"), (False, "")])
def test_headline_compares_accuracy_only_between_models_of_the_same_people(same_people, delta):
    at = AppTest.from_function(_headline_page, args=(same_people,)).run()
    assert not at.exception
    accuracy = next(m for m in at.metric if m.label == "Test accuracy")
    assert accuracy.value == "90.0%"
    assert (accuracy.delta or "") == delta


# ---------------------------------------------------------------- owner and visitor


VISITOR_HEADERS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
HOSTILE = ("<img src=x onerror=alert(1)>", "[x](javascript:alert(1))")


def as_visitor(headers: dict[str, str]) -> None:
    """Make the test's browser a remote visitor behind a proxy (as on a public server)."""
    headers.update(VISITOR_HEADERS)


def editing_controls(at: AppTest) -> list[str]:
    """Labels of every button, uploader and text field that changes the dataset or the models."""
    labels = [b.label for b in at.button] + [t.label for t in at.text_input]
    labels += [u.label for u in at.get("file_uploader") if u.label != "Photos"]
    editing = ("Add", "Find faces", "Reject", "Restore", "Delete", "Rename", "Train", "Use this", "Make")
    return [label for label in labels if label.startswith(editing)]


def test_a_visitor_gets_classify_only_without_editing_controls(env, local_browser, make_photo, astronaut):
    dataset, models = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    ModelRegistry(models).activate(tiny_bundle())
    as_visitor(local_browser)
    at = app()
    assert_clean(at)
    assert "You are a visitor" in "\n".join(c.value for c in at.sidebar.caption)
    for page in (DATASET, TRAIN):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    at.file_uploader(key="photos").set_value(("astronaut.jpg", jpeg(astronaut), "image/jpeg")).run()
    assert_clean(at)
    assert any(m.value.startswith("**Face 1:") for m in at.markdown)
    assert any("never saved to disk" in c.value for c in at.caption)
    assert editing_controls(at) == []


def test_with_the_agent_api_on_a_local_browser_is_a_visitor(env):
    from streamlit import config

    # Agent sessions have no client address: from any host they look like this test's local browser.
    before = config.get_option("server.enableAgentApi")
    config.set_option("server.enableAgentApi", True)
    try:
        at = app()
    finally:
        config.set_option("server.enableAgentApi", before)
    assert_clean(at)
    captions = "\n".join(c.value for c in at.sidebar.caption)
    assert "You are a visitor" in captions
    assert "agent API is on" in captions
    for page in (DATASET, TRAIN):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


@pytest.mark.parametrize("page", [DATASET, TRAIN])
def test_a_visitor_opening_an_owner_page_file_directly_changes_nothing(env, local_browser, make_photo, page):
    dataset, models = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    ModelRegistry(models).activate(tiny_bundle())
    manifest = (dataset / "manifest.json").read_bytes()
    as_visitor(local_browser)
    at = AppTest.from_file(str(ROOT / page), default_timeout=30).run()
    assert_clean(at)
    assert editing_controls(at) == []
    assert at.title[-1].value in ("Who is this?", "For the owner only")
    assert (dataset / "manifest.json").read_bytes() == manifest


def test_a_stale_reject_button_cannot_change_data_once_a_visitor(env, local_browser, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    crop_id = store.crops("Ann")[0].record.id
    manifest = (dataset / "manifest.json").read_bytes()
    at = app(DATASET)  # the owner's page, with its Reject buttons...
    stale = at.button(key=f"reject_{crop_id}")
    as_visitor(local_browser)  # ...and from now on the same session is a visitor
    stale.click().run()
    assert not at.exception
    assert any("only its owner can change it" in e.value for e in at.error)
    assert (dataset / "manifest.json").read_bytes() == manifest


def test_visitor_actions_are_refused_by_the_code_that_performs_them(env, local_browser, make_photo):
    dataset, models = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2), "Bob": ("blue", 2)})
    ModelRegistry(models).activate(tiny_bundle())
    active = (models / "model.joblib").read_bytes()
    as_visitor(local_browser)

    def crafted() -> None:
        import streamlit as st

        from celeb.errors import ReadOnlyError
        from celeb_app import common, models

        crops = common.store().crops("Ann")
        attempts = {
            "reject": lambda: common.store().set_status([c.record.id for c in crops], "rejected"),
            "delete": lambda: common.store().delete_person("Ann"),
            "activate": lambda: common.registry().activate(common.registry().load_active()),
            "train": lambda: models.train(common.store(), ["logistic_regression"], 0.25, 2),
        }
        for name, attempt in attempts.items():
            try:
                attempt()
            except ReadOnlyError as exc:
                st.write(f"{name}: refused: {exc}")

    at = AppTest.from_function(crafted, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    refused = [m.value for m in at.markdown]
    assert [line.split(":")[0] for line in refused] == ["reject", "delete", "activate", "train"]
    assert (models / "model.joblib").read_bytes() == active
    assert {p.name for p in DatasetStore(dataset).people()} == {"Ann", "Bob"}
    assert all(c.record.status == KEPT for c in DatasetStore(dataset).crops("Ann"))


def test_the_owner_password_unlocks_editing(env, local_browser):
    as_visitor(local_browser)
    at = owner_app()
    assert editing_controls(at) == []
    unlock(at, OWNER_PASSWORD)
    assert_clean(at)
    assert "unlocked with the owner password" in "\n".join(c.value for c in at.sidebar.caption)
    at.switch_page(DATASET).run()
    assert_clean(at)
    assert "Add person" in [b.label for b in at.button]
    next(b for b in at.sidebar.button if b.label == "Lock editing").click().run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(TRAIN)


def test_a_wrong_password_is_refused_and_slows_the_next_try(env, local_browser):
    as_visitor(local_browser)
    at = owner_app()
    unlock(at, "not the password at all")
    assert any(e.value.startswith("Wrong password. Wait 1 s") for e in at.sidebar.error)
    unlock(at, OWNER_PASSWORD)  # right, but too soon: refused without being checked
    assert any(e.value.startswith("Too many wrong passwords. Try again in") for e in at.sidebar.error)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(DATASET)


def test_without_a_password_a_visitor_is_told_how_the_owner_unlocks(env, local_browser):
    as_visitor(local_browser)
    at = app()
    assert_clean(at)
    assert not at.sidebar.text_input
    assert "python -m celeb hash-password" in "\n".join(c.value for c in at.sidebar.caption)


def test_hostile_person_names_show_literally(env, local_browser, astronaut):
    _, models = env
    ModelRegistry(models).activate(tiny_bundle(HOSTILE))
    as_visitor(local_browser)
    at = app()
    at.file_uploader(key="photos").set_value(("<b>x</b>.jpg", jpeg(astronaut), "image/jpeg")).run()
    assert_clean(at)
    shown = [m.value for m in at.markdown] + [m.value for m in at.sidebar.markdown]
    for name in HOSTILE:
        assert any(name in plain(value) for value in shown), name
        assert not any(name in value for value in shown), f"{name} reached markdown unescaped"
    assert any("<b>x</b>.jpg" in plain(h.value) for h in at.subheader)


def test_a_visitor_gets_at_most_the_visitor_cap_of_photos(env, local_browser, monkeypatch):
    # Files over the cap are never read, and their bytes are let go at once, not at the session's end.
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    read, released = [], []
    for method in ("getvalue", "read", "getbuffer"):
        original = getattr(UploadedFile, method)

        def recording(self, *args, _original=original, **kwargs):
            if "streamlit/testing" not in sys._getframe(1).f_code.co_filename:  # AppTest re-sends every file
                read.append(self.name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(UploadedFile, method, recording)
    remove_file = MemoryUploadedFileManager.remove_file

    def recording_remove(self, session_id, file_id):
        released.append(file_id)
        return remove_file(self, session_id, file_id)

    monkeypatch.setattr(MemoryUploadedFileManager, "remove_file", recording_remove)
    _, models = env
    ModelRegistry(models).activate(tiny_bundle())
    as_visitor(local_browser)
    at = app()
    gray = jpeg(np.full((60, 80, 3), 128, np.uint8))
    files = [(f"wall{i}.jpg", gray[:-1] + bytes([i]), "image/jpeg") for i in range(12)]
    at.file_uploader(key="photos").set_value(files).run()
    assert_clean(at)
    assert any("Only the first 10 of your 12 photos" in w.value for w in at.warning)
    assert any("the other 2 were not read" in w.value for w in at.warning)
    assert len(at.subheader) == 10
    assert set(read) == {f"wall{i}.jpg" for i in range(10)}
    assert len(released) == 2
    at.run()  # a rerun (a slider moved) shows the same, and still reads nothing over the cap
    assert_clean(at)
    assert len(at.subheader) == 10
    assert any("Only the first 10 of your 12 photos" in w.value for w in at.warning)
    assert set(read) == {f"wall{i}.jpg" for i in range(10)}


def test_with_login_configured_a_visitor_is_offered_the_owner_login(env, local_browser):
    as_visitor(local_browser)
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["celeb"] = {"owner_emails": ["me@example.org"]}
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a long random string for the test",
        "client_id": "client",
        "client_secret": "secret",
        "server_metadata_url": "https://accounts.example.org/.well-known/openid-configuration",
    }
    at.run()
    assert_clean(at)
    assert "Log in as the owner" in [b.label for b in at.sidebar.button]
    assert not at.sidebar.text_input  # no password set: no password field


# ---------------------------------------------------------------- photos from image addresses


def test_dataset_downloads_pasted_addresses_and_reports_each(env, site, make_photo, monkeypatch):
    from conftest import jpeg_route

    dataset, _ = env
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(make_photo("red", 1))
    served.routes["/page"] = (200, {"Content-Type": "text/html"}, b"<html>a page</html>", 0.0)
    monkeypatch.setenv("CELEB_ALLOWED_HOSTS", base.removeprefix("http://"))  # host:port
    DatasetStore(dataset).add_person("Ann")
    at = app(DATASET)
    box = next(t for t in at.text_area if t.label.startswith("Addresses of photos of Ann"))
    box.input(f"{base}/ann.jpg\n{base}/page\n\n{base}/missing.jpg\nhttp://10.0.0.1/x.jpg").run()
    at.button(key="download_urls").click().run()
    assert_clean(at)
    assert any(s.value.startswith("Downloaded 1 photo for Ann") for s in at.success)
    assert any(w.value == "Failed: 3 addresses." for w in at.warning)
    failed = next(frame.value for frame in at.dataframe if "address" in frame.value.columns)
    reasons = dict(zip(failed["address"], failed["why"], strict=True))
    assert "not an image" in reasons[f"{base}/page"]
    assert "404" in reasons[f"{base}/missing.jpg"]
    assert "private or local address" in reasons["http://10.0.0.1/x.jpg"]
    assert [p.photos for p in DatasetStore(dataset).people()] == [1]
    assert next(t for t in at.text_area if t.label.startswith("Addresses")).value == ""  # emptied


def test_dataset_imports_a_csv_of_people_and_addresses(env, site, make_photo, monkeypatch):
    from conftest import jpeg_route

    dataset, _ = env
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(make_photo("red", 1))
    served.routes["/bob.jpg"] = jpeg_route(make_photo("blue", 2))
    monkeypatch.setenv("CELEB_ALLOWED_HOSTS", base.removeprefix("http://"))  # host:port
    listing = f"person,url\nAnn,{base}/ann.jpg\nBob Beamon,{base}/bob.jpg\n".encode()
    DatasetStore(dataset).add_person("Someone")
    at = app(DATASET)
    at.file_uploader(key="url_csv_0").set_value(("urls.csv", listing, "text/csv")).run()
    at.button(key="download_csv").click().run()
    assert_clean(at)
    assert any(s.value.startswith("Downloaded 2 photos for Ann, Bob Beamon") for s in at.success)
    photos = {p.name: p.photos for p in DatasetStore(dataset).people()}
    assert photos == {"Ann": 1, "Bob Beamon": 1, "Someone": 0}
    # The same list again adds nothing.
    at.file_uploader(key="url_csv_1").set_value(("urls.csv", listing, "text/csv")).run()
    at.button(key="download_csv").click().run()
    assert any(i.value == "Skipped: 2 addresses." for i in at.info)


def test_dataset_refuses_a_malformed_csv_with_its_row(env):
    dataset, _ = env
    DatasetStore(dataset).add_person("Someone")
    at = app(DATASET)
    listing = ("urls.csv", b"person,url\nonly-one-cell\n", "text/csv")
    at.file_uploader(key="url_csv_0").set_value(listing).run()
    at.button(key="download_csv").click().run()
    assert_clean(at)
    assert any("Row 2 of the CSV should be 'person,url'" in e.value for e in at.error)


# ---------------------------------------------------------------- the embeddings engine in the app

needs_dlib = pytest.mark.skipif(
    not __import__("celeb.engines").engines.engine_available("embeddings"),
    reason="embeddings engine not installed (pip install -r requirements.txt)",
)


def embeddings_bundle(near: np.ndarray | None = None) -> ModelBundle:
    """An embeddings-engine model of Ann and Bob with a gallery threshold of 0.5.

    With ``near`` (a face's embedding), Ann's faces sit 0.65 from it and Bob's
    1.2: that face is unknown at 0.5, and Ann's at 0.8.
    """
    from celeb.model import Gallery

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
        gallery=Gallery(vectors, labels, 0.5),
        metrics={"test_accuracy": 0.95, "winner": "logistic_regression", "test_size": 6, "train_size": 18},
    )


@needs_dlib
def test_classify_with_an_embeddings_model_answers_unknown_by_distance(env, astronaut):
    from celeb.engines import get_engine

    _, models = env
    engine = get_engine("embeddings")
    face = engine.detect(astronaut)[0]
    ModelRegistry(models).activate(embeddings_bundle(engine.features(engine.crop(astronaut, face))))
    at = app()
    sliders = [s.label for s in at.sidebar.slider]
    assert "Unknown person beyond distance" in sliders and "Confidence threshold" not in sliders
    at.file_uploader(key="photos").set_value(("astronaut.jpg", jpeg(astronaut), "image/jpeg")).run()
    assert_clean(at)
    face = next(m.value for m in at.markdown if m.value.startswith("**Face 1"))
    assert face.startswith("**Face 1: unknown person.**")
    assert re.search(r"\(Ann\) is at distance 0\.6\d, beyond the 0\.50", face), face
    assert any("Embeddings" in c.value for c in at.sidebar.caption)
    # The distances decided, so they are shown and the probabilities are marked as not applying,
    # for every unknown face and no other.
    unknown = sum(": unknown person." in m.value for m in at.markdown)
    notes = [c.value for c in at.caption if "The probabilities do not apply here" in c.value]
    assert len(notes) == unknown >= 1 and all("within 0.50" in note for note in notes)
    # A lenient distance names the nearest person instead.
    next(s for s in at.sidebar.slider if s.label.startswith("Unknown")).set_value(0.8).run()
    face = next(m.value for m in at.markdown if m.value.startswith("**Face 1"))
    assert face.startswith("**Face 1: Ann**") and re.search(r"distance 0\.6\d", face), face
    unknown = sum(": unknown person." in m.value for m in at.markdown)
    assert sum("The probabilities do not apply here" in c.value for c in at.caption) == unknown


def test_an_embeddings_model_without_dlib_says_how_to_install_it(env, monkeypatch):
    from celeb_app import common

    _, models = env
    ModelRegistry(models).activate(embeddings_bundle())
    common.available_engines.clear()
    monkeypatch.setattr("celeb.engines.engine_available", lambda name: name == "classic")
    monkeypatch.setattr("celeb_app.common.engine_available", lambda name: name == "classic")
    try:
        at = app()
        assert_clean(at)
        assert any("requirements.txt" in e.value for e in at.error)
    finally:
        common.available_engines.clear()


@needs_dlib
def test_train_compares_both_engines_on_the_same_photos(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})
    store.find_faces(engine="classic")
    at = app(TRAIN, timeout=120)
    at.multiselect(key="train_models").set_value(["logistic_regression"])
    at.slider(key="train_folds").set_value(2)
    at.checkbox(key="train_compare").check()
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    assert any(h.value == "Engines compared on the same held-out photos" for h in at.subheader)
    assert sum(m.label == "Test accuracy" for m in at.metric) == 2
    assert len([d for d in at.dataframe if "precision" in d.value.columns]) == 2
    assert sum(b.label == "Use this model" for b in at.button) == 2


@needs_dlib
def test_dataset_finds_and_shows_each_engines_crops(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 2)}, process=False)
    store.find_faces(engine="classic")  # classic crops only
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["engine"] = "embeddings"
    at.run()
    at.switch_page(DATASET).run()
    assert_clean(at)
    find = next(b for b in at.button if b.label.startswith("Find faces in 2 new photos"))
    find.click().run()
    assert_clean(at)
    assert any("Searched 2 photos" in s.value for s in at.success)
    crops = store.crops("Ann", engine="embeddings")
    assert len(crops) == 2 and {c.record.engine for c in crops} == {"embeddings"}
    assert [c.record.id for c in store.crops("Ann", engine="classic")] != [c.record.id for c in crops]
    shown = {b.key for b in at.button if b.key and b.key.startswith("reject_") and b.key != "reject_selected"}
    assert shown == {f"reject_{c.record.id}" for c in crops}  # the grid shows this engine's crops


@needs_dlib
def test_comparing_with_an_engine_that_has_no_crops_says_what_to_do(env, make_photo):
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})  # embeddings crops only
    at = app(TRAIN, timeout=60)
    at.checkbox(key="train_compare").check()
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    assert any("no kept crops yet" in w.value and "Find faces" in w.value for w in at.warning)
