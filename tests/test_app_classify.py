"""The Classify page: a photo's faces named, unreadable photos reported, the embeddings engine's
'unknown person'. Sorting many photos is in test_app_sort.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from app_helpers import (
    activate_model_near,
    app,
    assert_clean,
    embeddings_bundle,
    jpeg,
    needs_dlib,
    plain,
    tiny_bundle,
)

from celeb.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("local_browser")  # the owner, unless a test makes it a visitor


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


@needs_dlib
def test_classify_with_an_embeddings_model_answers_unknown_by_distance(env, astronaut):
    _, models = env
    activate_model_near(models, astronaut)
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
    from celeb_app import resources

    _, models = env
    ModelRegistry(models).activate(embeddings_bundle())
    resources.available_engines.clear()
    monkeypatch.setattr("celeb.engines.engine_available", lambda name: name == "classic")
    monkeypatch.setattr("celeb_app.resources.engine_available", lambda name: name == "classic")
    try:
        at = app()
        assert_clean(at)
        assert any("requirements.txt" in e.value for e in at.error)
    finally:
        resources.available_engines.clear()
