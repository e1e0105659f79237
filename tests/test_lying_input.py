"""Input that lies about itself: files that are not files, oversized CSV fields, crafted
manifests, out-of-range thresholds, names with line separators.

Each case was a hang, a traceback or a silent wrong answer before; now each is a clear
error with bounded memory.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from celeb.cli import main
from celeb.config import MAX_CSV_BYTES, MAX_FILE_BYTES
from celeb.dataset import DatasetStore
from celeb.engines import engine_available
from celeb.engines.wavelets import FeatureSettings
from celeb.errors import DatasetError, ImageError, InvalidNameError, ManifestError
from celeb.images import read_image
from celeb.model import ModelBundle, save_bundle
from celeb.names import validate_name
from celeb.storage import FileTooLargeError, NotARegularFileError, read_regular_file
from celeb.url_import import UrlListError, read_url_csv

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def run(capsys: pytest.CaptureFixture, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def promptly(function, *args, seconds: float = 10.0):
    """``function(*args)`` in a thread: fails the test, instead of hanging it, if it blocks."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} blocked for {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A model fitted in milliseconds on random feature vectors: the files are refused before it runs."""
    rng = np.random.default_rng(0)
    features = rng.random((24, FeatureSettings().length), dtype=np.float32)
    labels = np.repeat(np.asarray(["Ann", "Bob"]), 12)
    estimator = LogisticRegression(max_iter=200).fit(features, labels)
    return save_bundle(ModelBundle(estimator=estimator, classes=["Ann", "Bob"]), tmp_path / "m.joblib")


#: How the refusal of a file over the limit (MAX_UPLOAD_MB, one limit for every file) ends.
OVER_THE_LIMIT = f"over the limit of {MAX_FILE_BYTES // 2**20} MB"


def sparse(path: Path, size: int) -> Path:
    """A file that claims ``size`` bytes and takes no disk space."""
    path.write_bytes(b"\xff\xd8\xff")
    os.truncate(path, size)
    return path


# ---------------------------------------------------------------- files that are not what they say


@needs_fifo
def test_a_fifo_named_jpg_is_refused_at_once(tmp_path: Path):
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFileError, match="not a regular file"):
        promptly(read_regular_file, fifo, 100)
    with pytest.raises(ImageError, match="not a regular file"):
        promptly(read_image, fifo)


def test_a_link_to_dev_zero_is_refused(tmp_path: Path):
    link = tmp_path / "x.jpg"
    link.symlink_to("/dev/zero")
    with pytest.raises(ImageError, match="not a regular file"):
        promptly(read_image, link)


def test_a_link_to_a_regular_file_is_read(tmp_path: Path):
    (tmp_path / "real.bin").write_bytes(b"abc")
    (tmp_path / "link.bin").symlink_to(tmp_path / "real.bin")
    assert read_regular_file(tmp_path / "link.bin", 3) == b"abc"


def test_a_sparse_giant_is_refused_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    giant = sparse(tmp_path / "x.jpg", 3 * 2**30)
    read = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        read.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", counting_read)
    with pytest.raises(ImageError, match=re.escape(f"3072 MB, {OVER_THE_LIMIT}")):
        read_image(giant)
    assert sum(read) <= MAX_FILE_BYTES + 1


def test_at_most_the_limit_plus_one_byte_is_read(tmp_path: Path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 11)
    assert read_regular_file(path, 11) == b"x" * 11
    with pytest.raises(FileTooLargeError, match="11 bytes, over the limit of 10 bytes"):
        read_regular_file(path, 10)


@needs_fifo
def test_cli_classify_a_fifo_and_dev_zero_are_errors_not_hangs(capsys, tmp_path: Path, model_file: Path):
    os.mkfifo(tmp_path / "fifo.jpg")
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    sparse(tmp_path / "sparse.jpg", 3 * 2**30)
    argv = ["classify", "--json", "--model", model_file, *(tmp_path / n for n in ("fifo.jpg", "zero.jpg"))]
    code, out, _ = promptly(run, capsys, *argv, tmp_path / "sparse.jpg")
    assert code == 1
    errors = [json.loads(line)["error"] for line in out.splitlines()]
    assert [bool(re.search("not a regular file", e)) for e in errors] == [True, True, False]
    assert OVER_THE_LIMIT in errors[2]


@needs_fifo
def test_cli_train_skips_a_fifo_a_dev_zero_link_and_a_sparse_giant(capsys, tmp_path: Path):
    folder = tmp_path / "people" / "Ann"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    sparse(folder / "big.jpg", 3 * 2**30)
    code, _, err = promptly(run, capsys, "train", tmp_path / "people", "--out", tmp_path / "m.joblib")
    assert code == 1  # nothing to train on; what matters is that it said why, promptly
    assert "imported 0 added, 3 skipped" in err
    assert f"skipped big.jpg: the file is 3072 MB, {OVER_THE_LIMIT}" in err
    assert "skipped fifo.jpg: cannot be read (this is not a regular file" in err
    assert "skipped zero.jpg: cannot be read (this is not a regular file" in err


@needs_fifo
def test_cli_import_urls_from_a_fifo_is_an_error(capsys, tmp_path: Path):
    os.mkfifo(tmp_path / "list.csv")
    code, _, err = promptly(run, capsys, "import-urls", tmp_path / "list.csv", "--dataset", tmp_path / "d")
    assert code == 2
    assert "cannot be read (this is not a regular file" in err


# ---------------------------------------------------------------- CSV


def test_a_csv_field_over_the_limit_is_a_clear_error():
    message = "line 2 of the CSV cannot be read: a field is longer than 131,072 characters"
    with pytest.raises(UrlListError, match=message):
        read_url_csv("person,url\nAnn," + "x" * 140_000 + "\n")


def test_a_csv_over_the_size_limit_is_refused():
    with pytest.raises(UrlListError, match="over the limit"):
        read_url_csv(b"a" * (MAX_CSV_BYTES + 1))


def test_cli_import_urls_with_a_huge_field(capsys, tmp_path: Path):
    listing = tmp_path / "list.csv"
    listing.write_text("Ann,https://example.org/" + "x" * 140_000 + "\n")
    code, out, err = run(capsys, "import-urls", listing, "--dataset", tmp_path / "d")
    assert code == 1
    assert out == ""
    assert err == "error: line 1 of the CSV cannot be read: a field is longer than 131,072 characters\n"


# ---------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    "option",
    [
        ["--threshold", "nan"],
        ["--threshold", "inf"],
        ["--threshold", "-1"],
        ["--threshold", "2"],
        ["--distance", "nan"],
        ["--distance", "-inf"],
        ["--distance", "0"],
        ["--distance", "-1"],
    ],
)
def test_out_of_range_thresholds_are_usage_errors(capsys, option):
    for command in ("classify", "evaluate"):
        with pytest.raises(SystemExit) as info:
            main([command, f"{option[0]}={option[1]}", "a.jpg"])  # "=": "-1" is no option
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {option[0]}: {option[1]!r} is not a" in err


def test_edge_thresholds_are_accepted(capsys, tmp_path: Path, model_file: Path):
    for option in (["--threshold", "0"], ["--threshold", "1"], ["--distance", "0.6"]):
        code, _, err = run(capsys, "classify", "--model", model_file, *option, tmp_path / "none.jpg")
        assert code == 1  # the file is missing; the option was taken
        assert "no such file" in _ + err


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["Ann\u2028Bob", "Ann\u2029Bob", "Ann\u200bBob", "Ann\u0085Bob"])
def test_line_and_paragraph_separators_are_refused_in_names(name):
    with pytest.raises(InvalidNameError, match="cannot contain"):
        validate_name(name)


def test_names_with_separators_are_refused_from_a_csv():
    with pytest.raises(UrlListError, match="row 1 of the CSV: a name cannot contain"):
        read_url_csv("Ann\u2028Bob,https://example.org/a.jpg\n")


def test_a_missing_file_keeps_its_old_message(tmp_path: Path):
    with pytest.raises(ImageError, match=r"^no such file$"):
        read_image(tmp_path / "nothing.jpg")
    with pytest.raises(ImageError, match=r"^this is a folder, not an image file$"):
        read_image(tmp_path)


# ---------------------------------------------------------------- crafted and damaged manifests


@pytest.fixture
def store(tmp_path: Path, make_photo) -> DatasetStore:
    """A dataset with Ann (two photos, cropped) and Bob (one photo), and a victim folder beside it.

    Cropped by the classic engine, which (unlike embeddings) computes no features while
    cropping: training reads every crop file, so a missing one is noticed there.
    """
    store = DatasetStore(tmp_path / "dataset")
    for name, tint, seeds in (("Ann", "red", (1, 2)), ("Bob", "blue", (3,))):
        store.add_person(name)
        for seed in seeds:
            store.add_photo(name, make_photo(tint, seed), f"{seed}.jpg")
    store.find_faces(engine="classic", workers=1)
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "precious.txt").write_text("keep me")
    return store


def edit_manifest(store: DatasetStore, change) -> None:
    manifest = json.loads(store.manifest_path.read_text(encoding="utf-8"))
    change(manifest["people"])
    store.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def first_photo(people: dict) -> dict:
    return next(iter(people["ann"]["photos"].values()))


def moved_person(people: dict) -> None:
    people["../victim"] = {**people.pop("bob"), "slug": "../victim"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (moved_person, "person folder '../victim' leads outside the dataset folder"),
        (
            lambda people: first_photo(people).update(stored="../../../../../etc/hostname"),
            "photo path of 'Ann' '../../../../../etc/hostname' leads outside the dataset folder",
        ),
        (
            lambda people: first_photo(people).update(stored="/etc/hostname"),
            "leads outside the dataset folder",
        ),
        (lambda people: first_photo(people).update(stored="bob/photos/x.jpg"), "is not in the folder of"),
        (lambda people: people["ann"].update(name=42), "person name 42 in folder 'ann': a name must be text"),
        (lambda people: people["ann"].update(name="Ann\u2028Bob"), "cannot contain control or invisible"),
        (
            lambda people: next(iter(people["ann"]["crops"].values())).update(photo="f" * 64),
            "points at a photo that is not theirs",
        ),
        (
            lambda people: next(iter(people["ann"]["crops"].values())).update(status="maybe"),
            "has an unknown status 'maybe'",
        ),
        (lambda people: next(iter(people["ann"]["crops"].values())).update(box="x"), "has a damaged box"),
        (lambda people: people["ann"].update(photos=[]), "is damaged"),
    ],
)
def test_a_crafted_or_damaged_manifest_is_refused_with_a_clear_message(store: DatasetStore, change, message):
    edit_manifest(store, change)
    for use in (store.people, store.export_zip, lambda: store.delete_person("Bob")):
        with pytest.raises(ManifestError, match=re.escape(message)):
            use()
    assert (store.root.parent / "victim" / "precious.txt").exists()


def test_a_crafted_manifest_cannot_put_outside_files_in_the_export_or_delete_outside(store: DatasetStore):
    edit_manifest(store, moved_person)
    edit_manifest(store, lambda people: first_photo(people).update(stored="../../../../../etc/hostname"))
    code = main(["train", str(store.root), "--out", str(store.root.parent / "m.joblib")])
    assert code == 1  # the CLI prints the ManifestError; nothing read, nothing written


def test_a_photo_linked_to_a_file_outside_is_left_out_of_the_export(store: DatasetStore, tmp_path: Path):
    photo = store.root / first_photo(json.loads(store.manifest_path.read_text())["people"])["stored"]
    photo.unlink()
    photo.symlink_to(tmp_path / "victim" / "precious.txt")
    with zipfile.ZipFile(io.BytesIO(store.export_zip())) as archive:
        names = archive.namelist()
        assert all(b"keep me" not in archive.read(name) for name in names)
    assert photo.relative_to(store.root).as_posix() not in names
    assert len([n for n in names if "/photos/" in n]) == 2


def test_deleting_a_person_whose_folder_is_a_link_keeps_what_it_points_at(store: DatasetStore, tmp_path):
    folder = store.root / "bob"
    shutil.rmtree(folder)
    folder.symlink_to(tmp_path / "victim", target_is_directory=True)
    store.delete_person("Bob")
    assert not folder.exists() and not folder.is_symlink()
    assert (tmp_path / "victim" / "precious.txt").read_text() == "keep me"


def test_a_missing_crop_file_at_training(store: DatasetStore, capsys):
    crop = store.crops("Ann", engine="classic")[0]
    crop.path.unlink()
    message = f"the crop file {crop.record.id}.png is missing (a kept crop of Ann)"
    with pytest.raises(DatasetError, match=re.escape(message)):
        store.training_set(store.engine("classic"))
    said: list[str] = []
    data, ids = store.training_set(store.engine("classic"), on_unreadable=said.append)
    assert crop.record.id not in ids and len(ids) == 2
    assert said == [f"the crop file {crop.record.id}.png is missing: a kept crop of Ann left out"]
    assert len(data.labels) == 2 * len(ids)  # mirrored copies of what is left


def test_cli_train_leaves_out_a_missing_crop_with_a_warning(store: DatasetStore, capsys):
    crop = store.crops("Ann", engine="classic")[0]
    crop.path.unlink()
    out = store.root.parent / "m.joblib"
    code, _, err = run(capsys, "train", store.root, "--engine", "classic", "--out", out)
    assert f"warning: the crop file {crop.record.id}.png is missing: a kept crop of Ann left out" in err
    assert "Traceback" not in err
    assert code == 1  # two photos left cannot be split for testing; a clear error, not a traceback


# ---------------------------------------------------------------- shortcodes in names and file names


def as_streamlit_shows(markdown: str) -> list[str]:
    """What Streamlit's browser code (1.67, StreamlitMarkdown) would turn into icons, emoji or its logo.

    It replaces ":material/" with ":material_" in the raw source, parses the
    markdown (a backslash escape becomes its plain character, in the same text),
    then matches these patterns in the text.
    """
    text = re.sub(r"\\(.)", r"\1", markdown.replace(":material/", ":material_"))
    return re.findall(r":material_\w+:|:streamlit:|:[\w-]+:", text)


def test_user_text_is_escaped_for_markdown():
    from app_helpers import plain

    from celeb_app.text import md

    assert md("[click](http://x.example)") == r"\[click\]\(http\://x\.example\)"
    assert plain(md("*Ann* :red[Bo] `c` <b>")) == "*Ann* :red[Bo] `c` <b>"


@pytest.mark.parametrize(
    "name",
    [":material/home:.jpg", "a:streamlit:b.png", ":smile: :+1:.jpg", "x::material/home::y", "Ann"],
)
def test_shortcodes_in_user_text_are_shown_as_typed(name):
    from celeb_app.text import WORD_JOINER, md

    shown = md(name)
    assert as_streamlit_shows(shown) == []
    assert re.sub(r"\\(.)", r"\1", shown).replace(WORD_JOINER, "") == name  # looks the same


def test_the_frontend_model_sees_the_icon_in_the_old_escaping():
    # The reason for the word joiner: backslash escapes alone still gave an icon.
    assert as_streamlit_shows(r"\:material/home\:") == [":material_home:"]


@pytest.mark.skipif(not engine_available("embeddings"), reason="embeddings engine not installed")
def test_a_missing_crop_file_is_noticed_even_when_its_features_are_cached(tmp_path, make_photo):
    # The embeddings engine describes each face while cropping, so its features are cached
    # before training ever opens the crop file.
    store = DatasetStore(tmp_path / "dataset")
    store.add_person("Ann")
    for seed in range(2):
        store.add_photo("Ann", make_photo("red", seed), f"{seed}.jpg")
    store.find_faces(engine="embeddings")
    engine = store.engine("embeddings")
    crop = store.crops("Ann", engine="embeddings")[0]
    crop.path.unlink()
    with pytest.raises(DatasetError, match=re.escape(f"the crop file {crop.record.id}.png is missing")):
        store.training_set(engine)
    said: list[str] = []
    _, ids = store.training_set(engine, on_unreadable=said.append)
    assert crop.record.id not in ids and len(ids) == 1 and len(said) == 1
