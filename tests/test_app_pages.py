"""The app as a whole: its navigation, every page rendering, what every page shares."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from app_helpers import (
    CLASSIFY,
    DATASET,
    MMAP_PROBE,
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
from streamlit.testing.v1 import AppTest

from celeb.registry import ModelRegistry
from celeb_app.navigation import PAGES

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

    from celeb.config import MAX_FILE_BYTES, MAX_UPLOAD_MB

    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] == MAX_UPLOAD_MB
    assert MAX_FILE_BYTES == MAX_UPLOAD_MB * 1024 * 1024
    # The README's reverse proxy (docs/nginx.conf, which the browser tests run) lets such a file
    # and its form through: nginx's default of 1 MB turned every phone photo into a 413.
    (body,) = re.findall(r"client_max_body_size (\d+)m;", (ROOT / "docs" / "nginx.conf").read_text())
    assert MAX_UPLOAD_MB < int(body) <= MAX_UPLOAD_MB + 2
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


# ---------------------------------------------------------------- the page table


def test_the_page_table_lists_every_page_file_once():
    from celeb_app.navigation import PAGES

    files = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "pages").glob("*.py"))
    assert sorted(row.path for row in PAGES) == files
    assert len({row.title for row in PAGES}) == len(PAGES)
    assert not PAGES[0].owner  # the default page is everyone's


def _navigation_of(owner: bool) -> None:
    import streamlit as st

    from celeb_app import navigation

    for page in navigation.pages_for(owner=owner):
        st.text(f"{page.title} {page.url_path} {page.icon} {page.visibility}")


def test_the_navigation_is_the_page_table(env):
    for owner in (True, False):
        at = AppTest.from_function(_navigation_of, args=(owner,)).run()
        assert not at.exception
        # Every page, the first (the default) at the app's root URL; a visitor's shows only theirs.
        urls = ["", *(row.name for row in PAGES[1:])]
        shown = ["hidden" if row.owner and not owner else "visible" for row in PAGES]
        assert [t.value for t in at.text] == [
            f"{row.title} {url} {row.icon} {visibility}"
            for row, url, visibility in zip(PAGES, urls, shown, strict=True)
        ]
    at = app()  # the owner's app has every page of the table
    for row in PAGES:
        at.switch_page(row.path).run()
        assert_clean(at)


def test_pages_link_to_pages_only_through_the_table():
    # st.Page and st.page_link take their file, title and icon from celeb_app/navigation.py.
    sources = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "celeb_app").glob("*.py")]
    for source in sources:
        if source.name == "navigation.py":
            continue
        text = source.read_text()
        assert "st.page_link(" not in text and "st.Page(" not in text, source


@pytest.mark.parametrize("row", PAGES, ids=lambda row: row.name)
def test_a_page_file_run_alone_runs_through_app_py(env, row):
    # What a server started in Streamlit's legacy pages/ mode does at /dataset before / was opened.
    at = AppTest.from_file(str(row.file), default_timeout=30).run()
    assert_clean(at)
    assert "**Active model**" in [m.value for m in at.sidebar.markdown]  # app.py's sidebar card


# ---------------------------------------------------------------- set-up in app.py only


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_importing_celeb_app_changes_nothing_and_app_py_sets_the_server_up(env):
    # In a fresh process: importing every celeb_app module leaves glibc's malloc and Starlette's
    # upload parser as they were; one run of app.py fixes both (uploads in memory, few parsed at
    # once, large buffers handed back to the system when freed).
    script = MMAP_PROBE + (
        "import importlib, pkgutil\n"
        "from starlette.formparsers import MultiPartParser\n"
        "spool, parse = MultiPartParser.spool_max_size, MultiPartParser.parse\n"
        "import celeb_app\n"
        "for module in pkgutil.iter_modules(celeb_app.__path__):\n"
        "    importlib.import_module('celeb_app.' + module.name)\n"
        "print(mapped(4 << 20), MultiPartParser.spool_max_size == spool, MultiPartParser.parse is parse)\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=60).run()\n"
        "print(not at.exception, mapped(6 << 20), MultiPartParser.spool_max_size > spool,"
        " MultiPartParser.parse is not parse)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    imported, ran = run.stdout.split("\n")[-3:-1]
    assert imported == "False True True"
    assert ran == "True True True True"


def test_the_pickers_offer_only_what_the_app_reads(env, make_photo):
    """Issue 23: the pickers offered HEIC/HEIF and then refused every such photo."""
    from celeb.config import IMAGE_SUFFIXES

    dataset, models = env
    ModelRegistry(models).activate(tiny_bundle())
    store_with_photos(dataset, make_photo, {"Ann": ("red", 1)}, process=False)
    at = app()
    pickers = list(at.get("file_uploader"))
    at.switch_page(DATASET).run()
    pickers += list(at.get("file_uploader"))
    photo_pickers = [set(u.proto.type) for u in pickers if ".jpg" in u.proto.type]
    assert photo_pickers  # the Classify page's and the Dataset page's photo pickers
    for types in photo_pickers:
        assert types - {".zip"} <= set(IMAGE_SUFFIXES), types


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
