"""Owner and visitor in the app: a visitor's navigation, refused actions, the unlock form, the
visitor's cap on photos. The rules themselves are tested in test_access.py.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from app_helpers import (
    APP,
    CLASSIFY,
    DATASET,
    HOSTILE,
    OWNER_PASSWORD,
    ROOT,
    TRAIN,
    app,
    as_visitor,
    assert_clean,
    editing_controls,
    jpeg,
    owner_app,
    plain,
    store_with_photos,
    tiny_bundle,
    unlock,
)
from streamlit.testing.v1 import AppTest

from celeb.dataset import DatasetStore
from celeb.manifest import KEPT
from celeb.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("local_browser")  # the owner, unless a test makes it a visitor


def test_a_visitor_gets_classify_only_without_editing_controls(env, local_browser, make_photo, astronaut):
    dataset, models = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    ModelRegistry(models).activate(tiny_bundle())
    as_visitor(local_browser)
    at = app()
    assert_clean(at)
    assert "You are a visitor" in "\n".join(c.value for c in at.sidebar.caption)
    for page in (DATASET, TRAIN):
        # Opened by its address, an owner's page says whose it is and how to unlock; nothing else.
        at.switch_page(page).run()
        assert_clean(at)
        assert at.title[-1].value == "For the owner only"
        assert editing_controls(at) == []
    at.switch_page(CLASSIFY).run()
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
        assert_clean(at)
        captions = "\n".join(c.value for c in at.sidebar.caption)
        assert "You are a visitor" in captions
        assert "agent API is on" in captions
        for page in (DATASET, TRAIN):
            # Opened by its address, an owner's page says whose it is and how to unlock; nothing else.
            at.switch_page(page).run()
            assert_clean(at)
            assert at.title[-1].value == "For the owner only"
            assert editing_controls(at) == []
    finally:
        config.set_option("server.enableAgentApi", before)


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
        from celeb_app import resources as common
        from celeb_app import training_view as models

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
    at.switch_page(TRAIN).run()
    assert at.title[-1].value == "For the owner only" and editing_controls(at) == []


def test_a_wrong_password_is_refused_and_slows_the_next_try(env, local_browser):
    as_visitor(local_browser)
    at = owner_app()
    unlock(at, "not the password at all")
    assert any(e.value.startswith("Wrong password. Wait 1 s") for e in at.sidebar.error)
    unlock(at, OWNER_PASSWORD)  # right, but too soon: refused without being checked
    assert any(e.value.startswith("Too many wrong passwords. Try again in") for e in at.sidebar.error)
    at.switch_page(DATASET).run()
    assert at.title[-1].value == "For the owner only" and editing_controls(at) == []


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
