"""The app as a whole: its navigation, every page rendering, what every page shares."""

from __future__ import annotations

import pytest
from app_helpers import (
    CLASSIFY,
    DATASET,
    OWNER_PASSWORD,
    ROOT,
    TRAIN,
    app,
    assert_clean,
    owner_app,
    store_with_photos,
    tiny_bundle,
    unlock,
)

from celeb.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("local_browser")  # the owner, unless a test makes it a visitor


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
