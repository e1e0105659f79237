"""Tests for celeb.registry: the active model and its history, the card that describes it without
loading it, and a model's bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sklearn
from helpers import constant_bundle

from celeb import model as model_module
from celeb import registry as registry_module
from celeb.errors import ModelError
from celeb.model import load_bundle
from celeb.registry import ModelRegistry, bundle_bytes


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


def test_bundle_bytes_is_a_loadable_model_file(tmp_path: Path):
    path = tmp_path / "m.joblib"
    path.write_bytes(bundle_bytes(constant_bundle("Zed")))
    assert load_bundle(path).classes == ["Ann", "Zed"]


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
