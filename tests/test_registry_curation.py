"""celeb.registry (active model + history) and celeb.curation (crop flags)."""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.dummy import DummyClassifier

from celeb import model as model_module
from celeb import registry as registry_module
from celeb.config import PROJECT_ROOT as ROOT
from celeb.curation import DAMAGED, DUPLICATE, MODEL, TINY, FlagSettings, flag_crops, flagged_first
from celeb.dataset import DatasetStore
from celeb.engines.wavelets import FeatureSettings
from celeb.errors import ModelError
from celeb.manifest import REJECTED
from celeb.model import ModelBundle, load_bundle
from celeb.registry import ModelRegistry, bundle_bytes


def constant_bundle(answer: str, classes: tuple[str, ...] = ("Ann", "Zed"), when: str = "") -> ModelBundle:
    """A model that always answers ``answer`` with probability 1."""
    length = FeatureSettings().length
    features = np.zeros((len(classes), length), np.float32)
    estimator = DummyClassifier(strategy="constant", constant=answer).fit(features, list(classes))
    bundle = ModelBundle(estimator=estimator, classes=list(classes), metrics={"test_accuracy": 0.5})
    if when:
        bundle.trained_at = when
    return bundle


# ---------------------------------------------------------------- registry


def test_activate_keeps_the_replaced_model_in_history(tmp_path: Path):
    registry = ModelRegistry(tmp_path / "models")
    registry.activate(constant_bundle("Ann", when="2026-01-01T10:00:00+00:00"))
    assert registry.history() == []
    first = registry.active_bytes()
    version = registry.active_version()

    second = constant_bundle("Zed", when="2026-02-01T10:00:00+00:00")
    registry.activate(second)
    assert registry.active_version() != version
    (entry,) = registry.history()
    assert entry.path.read_bytes() == first
    assert entry.trained_at == "2026-01-01T10:00:00+00:00"
    assert entry.test_accuracy == 0.5 and entry.classes == ["Ann", "Zed"]
    assert entry.archived_at

    registry.activate(second)  # the same model again (a double click): nothing to keep
    assert len(registry.history()) == 1


def test_restore_swaps_the_active_model_with_an_earlier_one(tmp_path: Path):
    registry = ModelRegistry(tmp_path)
    registry.activate(constant_bundle("Ann", when="2026-01-01T10:00:00+00:00"))
    old = registry.active_bytes()
    registry.activate(constant_bundle("Zed", when="2026-02-01T10:00:00+00:00"))
    new = registry.active_bytes()
    (entry,) = registry.history()

    restored = registry.restore(entry.id)
    assert restored.trained_at.startswith("2026-01-01")
    assert registry.active_bytes() == old
    (entry,) = registry.history()
    assert entry.path.read_bytes() == new


def test_history_is_pruned_and_ids_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry_module, "HISTORY_LIMIT", 2)
    registry = ModelRegistry(tmp_path)
    for month in range(1, 6):
        registry.activate(constant_bundle("Ann", when=f"2026-0{month}-01T10:00:00+00:00"))
    assert len(registry.history()) == 2
    with pytest.raises(ModelError):
        registry.restore("../../etc/passwd")
    with pytest.raises(ModelError):
        registry.restore("20260101-missing")


def test_a_damaged_active_model_is_still_kept(tmp_path: Path):
    registry = ModelRegistry(tmp_path)
    registry.active_path.write_bytes(b"not a model")
    registry.activate(constant_bundle("Ann"))
    (entry,) = registry.history()
    assert entry.problem and entry.path.read_bytes() == b"not a model"
    with pytest.raises(ModelError):
        registry.restore(entry.id)


def test_the_active_models_card_is_read_without_loading_the_model(tmp_path: Path, monkeypatch):
    registry = ModelRegistry(tmp_path)
    assert registry.active_info() is None
    registry.activate(constant_bundle("Ann", when="2026-01-01T10:00:00+00:00"))
    card = json.loads(registry.active_card.read_text())
    assert card["sha256"] == hashlib.sha256(registry.active_bytes()).hexdigest()
    assert card["classes"] == ["Ann", "Zed"] and card["engine"] == "classic" and card["test_accuracy"] == 0.5

    def no_loading(path):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(model_module, "load_bundle", no_loading)
    info = ModelRegistry(tmp_path, read_only=True).active_info()
    assert info.classes == ["Ann", "Zed"] and info.trained_at == "2026-01-01T10:00:00+00:00"
    assert info.distance_threshold is None and info.made_with == sklearn.__version__ and not info.version_note


def test_a_card_that_does_not_match_the_model_is_made_anew(tmp_path: Path):
    registry = ModelRegistry(tmp_path)
    registry.activate(constant_bundle("Ann"))
    old_card = registry.active_card.read_text()
    # A model copied in by hand: the card describes the one before.
    registry.active_path.write_bytes(bundle_bytes(constant_bundle("Zed", classes=("Bo", "Zed"))))
    assert ModelRegistry(tmp_path, read_only=True).active_info().classes == ["Bo", "Zed"]
    assert registry.active_card.read_text() == old_card  # read-only: nothing written
    assert registry.active_info().classes == ["Bo", "Zed"]
    assert json.loads(registry.active_card.read_text())["classes"] == ["Bo", "Zed"]

    registry.active_card.write_text("{damaged")
    assert registry.active_info().classes == ["Bo", "Zed"]
    registry.active_path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="damaged or not a celeb model"):
        registry.active_info()


def test_a_model_of_another_scikit_learn_says_so_on_its_card(tmp_path: Path):
    bundle = constant_bundle("Ann")
    bundle.versions = {**bundle.versions, "scikit-learn": "0.0.1"}
    registry = ModelRegistry(tmp_path)
    registry.activate(bundle)
    note = registry.active_info().version_note
    assert note == (
        f"the model model.joblib was made with scikit-learn 0.0.1; this is {sklearn.__version__}. "
        "Its answers may differ: retrain it to be sure."
    )


def test_the_first_page_imports_no_scikit_learn_numpy_or_opencv():
    # The imports at the top of app.py and the Classify page, run as they are before the first
    # draw; the rest (the results, the model, the engines) is imported after it.
    imports = [
        ast.unparse(node)
        for script in (ROOT / "app.py", ROOT / "pages" / "classify.py")
        for node in ast.parse(script.read_text()).body
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert "from celeb_app import access, navigation, resources" in imports
    heavy = {"sklearn", "scipy", "pandas", "altair", "matplotlib", "numpy", "cv2", "dlib", "PIL"}
    code = "\n".join([*imports, "import sys", f"print(sorted({heavy!r} & set(sys.modules)))"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_bundle_bytes_is_a_loadable_model_file(tmp_path: Path):
    path = tmp_path / "m.joblib"
    path.write_bytes(bundle_bytes(constant_bundle("Zed")))
    assert load_bundle(path).classes == ["Ann", "Zed"]


# ---------------------------------------------------------------- curation


@pytest.fixture
def ann_store(tmp_path: Path, make_photo) -> DatasetStore:
    """Ann with three tinted, noisy copies of one photo, cropped by the classic engine.

    The similarities below were measured on its crops, and the model flags need
    crops of the model's engine (``constant_bundle`` is a classic model).
    """
    store = DatasetStore(tmp_path / "dataset")
    store.add_person("Ann")
    for seed in (0, 1, 3):
        store.add_photo("Ann", make_photo("red", seed), f"ann-{seed}.jpg")
    store.find_faces(engine="classic", workers=1)
    assert len(store.crops("Ann", engine="classic")) == 3
    return store


def test_near_duplicates_are_flagged_once(ann_store: DatasetStore):
    crops = ann_store.crops("Ann", engine="classic")
    order = [crop.record.id for crop in crops]
    flags = flag_crops(crops)
    # Two of the three photos give the same crop (similarity 0.997); the third
    # face is found a pixel wider, so its crop is shifted (about 0.91).
    (copy,) = flags
    (flag,) = flags[copy]
    assert flag.kind == DUPLICATE
    assert order.index(flag.other) < order.index(copy)  # the later one is flagged
    original = next(crop for crop in crops if crop.record.id == flag.other)
    assert original.photo_filename in flag.message
    # Nothing is a duplicate at an impossible similarity.
    assert not flag_crops(crops, settings=FlagSettings(duplicate_similarity=1.01))


def test_a_copy_of_a_rejected_crop_is_not_flagged(ann_store: DatasetStore):
    (flag,) = next(iter(flag_crops(ann_store.crops("Ann", engine="classic")).values()))
    ann_store.set_status([flag.other], REJECTED)
    flags = flag_crops(ann_store.crops("Ann", engine="classic"))
    assert not any(f.kind == DUPLICATE for found in flags.values() for f in found)


def test_tiny_damaged_and_model_flags(ann_store: DatasetStore):
    crops = ann_store.crops("Ann", engine="classic")
    crops[2].path.write_bytes(b"broken")
    flags = flag_crops(
        crops,
        constant_bundle("Zed"),
        FlagSettings(tiny_pixels=10_000, duplicate_similarity=1.01),
    )
    kinds = {crop_id: {f.kind for f in found} for crop_id, found in flags.items()}
    assert kinds[crops[0].record.id] == {TINY, MODEL}
    assert kinds[crops[2].record.id] == {TINY, DAMAGED}
    assert "the model says Zed (100%)" in [f.message for f in flags[crops[0].record.id]]
    # A model that agrees, or that does not know the person, flags nothing.
    assert not flag_crops(crops[:2], constant_bundle("Ann"), FlagSettings(duplicate_similarity=1.01))
    assert not flag_crops(
        crops[:2], constant_bundle("Bo", ("Bo", "Zed")), FlagSettings(duplicate_similarity=1.01)
    )


def test_flagged_first_keeps_the_order_otherwise(ann_store: DatasetStore):
    crops = ann_store.crops("Ann", engine="classic")
    flags = flag_crops(crops, settings=FlagSettings(duplicate_similarity=1.01, tiny_pixels=0))
    assert flagged_first(crops, flags) == crops
    last = crops[2].record.id
    flags = {last: flag_crops(crops, settings=FlagSettings(tiny_pixels=10_000))[last]}
    assert [c.record.id for c in flagged_first(crops, flags)] == [
        last,
        crops[0].record.id,
        crops[1].record.id,
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        ("classes", 5),
        ("classes", [1, 2]),
        ("classes", "Ann"),
        ("test_accuracy", "high"),
        ("test_accuracy", 7.5),
        ("test_accuracy", True),
        ("test_faces", "72"),
        ("test_faces", -1),
        ("distance_threshold", "0.6"),
        ("distance_threshold", -0.6),
        ("trained_at", 20260101),
        ("engine", ["embeddings"]),
        ("id", None),
        ("size_bytes", 1.5),
    ],
)
def test_a_card_with_a_field_of_the_wrong_kind_is_made_anew(tmp_path: Path, field, value):
    """Issue 18: a card whose SHA-256 matches but whose fields are wrong is not trusted (the sidebar
    showed "Something went wrong")."""
    registry = ModelRegistry(tmp_path)
    registry.activate(constant_bundle("Ann"))
    card = json.loads(registry.active_card.read_text())
    registry.active_card.write_text(json.dumps({**card, field: value}))
    info = registry.active_info()
    assert info.classes == ["Ann", "Zed"] and info.test_accuracy == 0.5
    assert json.loads(registry.active_card.read_text())[field] == card[field]  # written anew


def test_a_card_that_is_not_an_object_is_made_anew(tmp_path: Path):
    registry = ModelRegistry(tmp_path)
    registry.activate(constant_bundle("Ann"))
    for text in ("[]", "5", "null", '"card"'):
        registry.active_card.write_text(text)
        assert registry.active_info().classes == ["Ann", "Zed"]


def test_a_crop_unlike_the_persons_other_faces_may_be_someone_else(tmp_path: Path, monkeypatch):
    """Issue 19: flags come from distances between the person's own faces (an identity engine's),
    not from the model agreeing with itself: the crop far from the others is flagged, and first."""
    from celeb import curation
    from celeb.curation import SOMEONE_ELSE
    from celeb.manifest import Crop, CropRecord

    # Six crops of six photos: five close together, one (index 2) 1.0 away, another person.
    places = [np.eye(8)[0] * 0.05 * i for i in range(6)]
    places[2] = np.eye(8)[1]

    class Identity:
        """An open-set engine whose embedding of crop i is places[i] (the crop's pixels hold i)."""

        open_set = True

        def features(self, rgb: np.ndarray) -> np.ndarray:
            return places[int(rgb[0, 0, 0])]

    monkeypatch.setattr(curation, "get_engine", lambda name: Identity())
    monkeypatch.setattr(curation, "decode_png", lambda path: np.full((4, 4, 3), int(path.stem), np.uint8))
    crops = [
        Crop(
            "Ann",
            CropRecord(f"c{i}", f"photo{i}", [0, 0, 100, 100], True, 0, engine="identity"),
            tmp_path / f"{i}.png",
            tmp_path / f"photo{i}.jpg",
            f"photo{i}.jpg",
        )
        for i in range(6)
    ]
    flags = flag_crops(crops, settings=FlagSettings(duplicate_similarity=1.01, tiny_pixels=0))
    assert {crop_id: [f.kind for f in found] for crop_id, found in flags.items()} == {"c2": [SOMEONE_ELSE]}
    assert "most of this person's other faces are farther than 0.60" in flags["c2"][0].message
    assert [c.record.id for c in flagged_first(crops, flags)][:2] == ["c2", "c0"]
