"""The app with a damaged active model: the pages that repair it keep working.

With models/model.joblib damaged, the Train page still offers the training
form and the earlier models to make active, and the Dataset page's Crops tab
still shows the crops; both say what is wrong with the model. And a CSV that lies
about its fields is a message, not "Something went wrong".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import DATASET, TRAIN, app, assert_clean, store_with_photos, texts, tiny_bundle

from celeb.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("local_browser")  # the owner, unless a test makes it a visitor


def damage(models: Path) -> bytes:
    """Overwrite the active model's first 1000 bytes, as the issue's reproduction does."""
    path = models / "model.joblib"
    data = bytearray(path.read_bytes())
    data[:1000] = b"\0" * 1000
    path.write_bytes(bytes(data))
    return bytes(data)


def test_train_page_with_a_damaged_model_still_trains_and_restores(env, make_photo):
    dataset, models = env
    registry = ModelRegistry(models)
    registry.activate(tiny_bundle(seed=1))
    registry.activate(tiny_bundle(("Ann", "Bob"), seed=2))  # the first goes to the history
    earlier = registry.history()[0].path.read_bytes()
    damage(models)
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2), "Bob": ("blue", 2)})
    at = app(TRAIN)
    assert_clean(at)
    errors = [e.value for e in at.error if "The active model cannot be used" in e.value]
    assert errors and "damaged" in errors[0]
    assert "Train a new model below, or make an earlier one active" in errors[0]
    assert any(b.label == "Train" for b in at.button)  # the training form
    assert at.multiselect(key="train_models") is not None
    assert "The active model file is damaged" in texts(at)

    next(b for b in at.button if b.label == "Make active").click().run()
    assert_clean(at)
    assert registry.active_bytes() == earlier
    assert not [e.value for e in at.error if "cannot be used" in e.value]


def test_dataset_crops_tab_with_a_damaged_model_still_shows_the_crops(env, make_photo):
    dataset, models = env
    ModelRegistry(models).activate(tiny_bundle(("Ann", "Bob")))
    damage(models)
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    at = app(DATASET)
    assert_clean(at)
    warnings = [w.value for w in at.warning if "The active model cannot be used" in w.value]
    assert warnings and "does not check these crops" in warnings[0]
    assert "kept crops flagged" in texts(at) or "No kept crop is flagged" in texts(at)
    assert "Crops 1–2 of 2" in texts(at)  # the crop grid, under the flags


def test_dataset_refuses_a_csv_with_a_huge_field_with_a_message(env):
    from celeb.dataset import DatasetStore

    dataset, _ = env
    DatasetStore(dataset).add_person("Someone")
    at = app(DATASET)
    listing = ("urls.csv", b"Someone,https://example.org/" + b"x" * 140_000 + b"\n", "text/csv")
    at.file_uploader(key="url_csv_0").set_value(listing).run()
    at.button(key="download_csv").click().run()
    assert_clean(at)  # no "Something went wrong"
    assert any("a field is longer than 131,072 characters" in e.value for e in at.error)
