"""Tests for the command line (celeb.cli): `python -m celeb classify`, `evaluate` and `train`, what
they print, their exit codes and usage errors. `sort` has its own tests (test_sort.py).

The model (conftest.py's ``bundle``, saved as ``model_path``) is trained on crops of tinted copies of
scikit-image's astronaut: Ada is red, Bo blue, Zoë green (helpers.PEOPLE).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import image_error, run

from celeb import cli
from celeb.cli import main
from celeb.config import PROJECT_ROOT
from celeb.engines.haar import FaceDetector
from celeb.model import ModelBundle, load_bundle, save_bundle

RECORD_KEYS = {"file", "error", "faces"}


FACE_KEYS = {"box", "person", "probability", "probabilities", "clean"}


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


# --------------------------------------------------------------------------- classify


def test_classify_json_one_line_per_input_in_order(capsys, model_path: Path, photos: dict[str, Path]):
    inputs = [photos["Ada"], photos["text"], photos["Bo"], photos["blank"], photos["Zoë"]]
    code, out, _ = run(capsys, "classify", "--json", "--model", model_path, *inputs)
    assert code == 1  # one input failed
    records = json_lines(out)
    assert [record["file"] for record in records] == [str(path) for path in inputs]
    assert all(set(record) == RECORD_KEYS for record in records)
    assert [record["error"] for record in records] == [None, image_error(b"not a photo"), None, None, None]
    assert [len(record["faces"]) for record in records] == [1, 0, 1, 0, 1]
    for record, person in zip([records[0], records[2], records[4]], ["Ada", "Bo", "Zoë"], strict=True):
        (face,) = record["faces"]
        assert set(face) == FACE_KEYS
        assert face["person"] == person
        assert face["clean"] is True
        assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
        assert (
            list(face["probabilities"]) == sorted(face["probabilities"], key=face["probabilities"].get)[::-1]
        )
        assert face["probability"] == face["probabilities"][person]
    assert "Zoë" in out  # names are written as UTF-8, not \\u escapes


def test_classify_exit_code_0_when_all_is_well(capsys, model_path: Path, photos: dict[str, Path]):
    code, out, err = run(capsys, "classify", "--json", "--model", model_path, photos["Ada"], photos["blank"])
    assert code == 0
    assert [r["error"] for r in json_lines(out)] == [None, None]
    assert err == ""


def test_classify_missing_file(capsys, model_path: Path, tmp_path: Path):
    code, out, _ = run(capsys, "classify", "--json", "--model", model_path, tmp_path / "gone.jpg")
    assert code == 1
    assert [r["error"] for r in json_lines(out)] == ["no such file"]


def test_classify_a_folder_reads_its_images_in_path_order(capsys, model_path: Path, photos, tmp_path: Path):
    folder = tmp_path / "album"
    wanted = {"b.jpg": "Bo", "a/x.JPG": "Ada", "a/deeper/w.jpeg": "Zoë", "a b/y.png": "Ada"}
    left_out = [".hidden.jpg", ".cache/z.jpg", "notes.txt", "a/readme.md"]
    for name in [*wanted, *left_out]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        person = wanted.get(name, "Ada")
        (folder / name).write_bytes(photos[person].read_bytes())
    named = photos["Bo"]  # a file named on its own is read as before, before or after a folder
    code, out, err = run(capsys, "classify", "--json", "--model", model_path, named, folder, photos["text"])
    assert code == 1, err  # the text file named explicitly is still an error
    records = json_lines(out)
    order = ["a/deeper/w.jpeg", "a/x.JPG", "a b/y.png", "b.jpg"]
    assert [r["file"] for r in records] == [
        str(named),
        *(str(folder / name) for name in order),
        str(photos["text"]),
    ]
    assert [r["faces"][0]["person"] for r in records[:-1]] == ["Bo", *(wanted[name] for name in order)]
    assert records[-1]["error"] == image_error(b"not a photo")


def test_classify_an_empty_folder_is_a_usage_error(capsys, model_path: Path, photos, tmp_path: Path):
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no photo here")
    (tmp_path / "empty" / ".hidden" / "a.jpg").write_bytes(photos["Ada"].read_bytes())
    code, out, err = run(capsys, "classify", "--model", model_path, photos["Ada"], tmp_path / "empty")
    assert code == 2
    assert out == ""  # nothing is classified
    assert err.startswith(f"error: {tmp_path / 'empty'} holds no image files (.jpg .jpeg ")


def test_classify_threshold_one_says_not_sure(capsys, model_path: Path, photos: dict[str, Path]):
    code, out, _ = run(
        capsys, "classify", "--json", "--threshold", "1.0", "--model", model_path, photos["Ada"]
    )
    assert code == 0
    (face,) = json_lines(out)[0]["faces"]
    assert face["person"] is None
    assert face["probability"] < 1.0
    assert max(face["probabilities"], key=face["probabilities"].get) == "Ada"


def test_classify_text_output(capsys, model_path: Path, photos: dict[str, Path]):
    inputs = [photos["Ada"], photos["text"], photos["blank"]]
    code, out, _ = run(capsys, "classify", "--model", model_path, *inputs)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{photos['Ada']}: Ada ")
    assert lines[0].endswith("]") and "% at [" in lines[0]
    assert lines[1] == f"{photos['text']}: error: {image_error(b'not a photo')}"
    assert lines[2] == f"{photos['blank']}: no face found (a clear frontal face is needed)"


def test_classify_text_output_when_not_sure(capsys, model_path: Path, photos: dict[str, Path]):
    code, out, _ = run(capsys, "classify", "--threshold", "1", "--model", model_path, photos["Bo"])
    assert code == 0
    assert out.startswith(f"{photos['Bo']}: not sure (maybe Bo: ")
    assert "below the 100% needed to name someone) at [" in out


def test_classify_text_output_for_a_face_without_eyes(
    capsys, model_path: Path, small_astronaut: np.ndarray, tint_image, encode_image, tmp_path: Path
):
    rgb = tint_image(small_astronaut, "red", 7)
    blurred = cv2.GaussianBlur(rgb, (15, 15), 8)
    rgb[48:57, 86:139] = blurred[48:57, 86:139]  # the eyes, out of focus
    path = tmp_path / "no eyes.png"
    path.write_bytes(encode_image(rgb, "PNG"))
    faces = FaceDetector().detect(rgb)
    assert [face.eyes_found for face in faces] == [False]  # the premise of this test
    code, out, _ = run(capsys, "classify", "--model", model_path, path)
    assert code == 0
    assert out.rstrip("\n").endswith(", eyes not both visible: less reliable")
    code, out, _ = run(capsys, "classify", "--json", "--model", model_path, path)
    assert json_lines(out)[0]["faces"][0]["clean"] is False


def test_classify_text_output_escapes_control_characters(capsys, model_path: Path, photos, tmp_path: Path):
    path = tmp_path / "evil\nname\x1b[2J.jpg"
    path.write_bytes(photos["Ada"].read_bytes())
    code, out, _ = run(capsys, "classify", "--model", model_path, path)
    assert code == 0
    assert out.count("\n") == 1  # one line: the newline in the name is shown escaped
    assert "\x1b" not in out
    assert out.startswith(str(tmp_path) + "/evil\\nname\\x1b[2J.jpg: Ada ")


def test_classify_json_with_a_file_name_that_is_not_utf8(capsys, model_path: Path, photos, tmp_path: Path):
    raw = os.fsencode(tmp_path) + b"/\xff\xfe.jpg"
    with open(raw, "wb") as file:
        file.write(b"not a photo")
    name = os.fsdecode(raw)
    code, out, _ = run(capsys, "classify", "--json", "--model", model_path, name, photos["Ada"])
    assert code == 1
    records = json_lines(out)
    assert len(records) == 2
    assert records[1]["faces"][0]["person"] == "Ada"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["classify"],
        ["classify", "--threshold", "high", "a.jpg"],
        ["classify", "--no-such-option", "a.jpg"],
        ["train", "folder", "--models", "bogus"],
        ["train", "folder", "--folds", "two"],
        ["evaluate"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "usage: python -m celeb" in err


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "classify" in out and "evaluate" in out


def test_classify_without_a_model(capsys, photos: dict[str, Path], tmp_path: Path):
    code, out, err = run(capsys, "classify", photos["Ada"])  # the default model: CELEB_MODELS_DIR
    assert code == 1
    assert out == ""
    default = tmp_path / "env-models" / "model.joblib"
    assert (
        err == f"error: no model file at {default}; train one first (Train page or `python -m celeb train`)\n"
    )


def test_classify_with_a_damaged_model(capsys, photos: dict[str, Path], tmp_path: Path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"garbage")
    code, _, err = run(capsys, "classify", "--model", path, photos["Ada"])
    assert code == 1
    assert err.startswith("error: the model file model.joblib is damaged or not a celeb model (")


def test_classify_warns_about_another_scikit_learn(
    capsys, bundle: ModelBundle, photos: dict[str, Path], tmp_path: Path
):
    old = ModelBundle(
        estimator=bundle.estimator,
        classes=bundle.classes,
        versions={**bundle.versions, "scikit-learn": "0.0.1"},
    )
    path = save_bundle(old, tmp_path / "old.joblib")
    code, out, err = run(capsys, "classify", "--json", "--model", path, photos["Ada"])
    assert code == 0
    assert json_lines(out)[0]["faces"][0]["person"] == "Ada"
    assert err.startswith("warning: the model old.joblib was made with scikit-learn 0.0.1; this is ")


# --------------------------------------------------------------------------- evaluate


@pytest.fixture
def labelled(tmp_path: Path, make_person_folders) -> Path:
    return make_person_folders(tmp_path / "labelled", {"Ada": ("red", 2), "Bo": ("blue", 2)})


def test_evaluate_prints_coverage(capsys, model_path: Path, labelled: Path):
    code, out, _ = run(capsys, "evaluate", labelled, "--model", model_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[:4] == [
        "photos: 4",
        "coverage (a confident answer): 1.000",
        "accuracy over confident answers: 1.000",
        "end-to-end accuracy (all photos): 1.000",
    ]
    assert "confusion (rows: truth, columns: answer)" in lines
    assert lines[-3].split() == ["truth", "Ada", "Bo", "Zoë", "not", "sure"]
    assert lines[-2].split() == ["Ada", "2", "0", "0", "0"]
    assert lines[-1].split() == ["Bo", "0", "2", "0", "0"]


def test_evaluate_matches_folder_names_written_as_identifiers(capsys, model_path: Path, labelled: Path):
    """Issue 19: folders named like ``lionel_messi/`` are the model's "Lionel Messi" (here ``ada/`` and
    ``BO`` are Ada and Bo): the accuracy was 0.000 with a confusion matrix all on its diagonal."""
    (labelled / "Ada").rename(labelled / "ada")
    (labelled / "Bo").rename(labelled / "BO")
    code, out, _ = run(capsys, "evaluate", labelled, "--model", model_path, "--json")
    figures = json.loads(out)
    assert code == 0
    assert figures["confident_accuracy"] == 1.0 and figures["end_to_end_accuracy"] == 1.0
    assert figures["confusion"]["rows"] == ["Ada", "Bo"]


def test_evaluate_json(capsys, model_path: Path, labelled: Path):
    (labelled / "Bo" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (labelled / "Bo" / "notes.txt").write_text("ignored: not a photo by its name")
    code, out, _ = run(capsys, "evaluate", labelled, "--model", model_path, "--threshold", "0.5", "--json")
    figures = json.loads(out)
    assert figures["photos"] == 5
    assert figures["coverage"] == 0.8
    assert figures["confident_accuracy"] == 1.0
    assert figures["end_to_end_accuracy"] == 0.8
    assert figures["confusion"] == {
        "rows": ["Ada", "Bo"],
        "columns": ["Ada", "Bo", "Zoë", "not sure"],
        "matrix": [[2, 0, 0, 0], [0, 2, 0, 1]],
    }
    assert figures["per_person"]["Bo"] == {
        "photos": 3,
        "coverage": pytest.approx(2 / 3),
        "confident_accuracy": 1.0,
        "end_to_end_accuracy": pytest.approx(2 / 3),
    }
    assert figures["errors"] == [
        {"file": str(labelled / "Bo" / "broken.jpg"), "error": image_error(b"\xff\xd8 not really")}
    ]
    assert code in (0, 1)


def test_evaluate_exit_code_1_when_a_photo_fails(capsys, model_path: Path, labelled: Path):
    (labelled / "Bo" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    code, _, _ = run(capsys, "evaluate", labelled, "--model", model_path, "--json")
    assert code == 1


def test_evaluate_text_output_names_failed_photos(capsys, model_path: Path, labelled: Path):
    (labelled / "Bo" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    _, out, err = run(capsys, "evaluate", labelled, "--model", model_path)
    assert "broken.jpg" in out + err


@pytest.mark.parametrize("layout", [[], ["Ada/"], ["Ada/notes.txt", "loose.jpg"]])
def test_evaluate_without_photos_is_a_usage_error(capsys, model_path: Path, tmp_path: Path, layout):
    root = tmp_path / "labelled"
    root.mkdir()
    for name in layout:
        (root / name).parent.mkdir(exist_ok=True)
        if not name.endswith("/"):
            (root / name).write_bytes(b"photos of nobody")  # a loose file names no person
    code, out, err = run(capsys, "evaluate", root, "--model", model_path, "--json")
    assert code == 2
    assert out == ""
    assert err.startswith(
        f"error: {root} holds no photos to evaluate on: it needs one sub-folder of photos per"
    )


def test_evaluate_says_when_the_model_was_trained_on_the_photos(capsys, tmp_path: Path, make_person_folders):
    people = make_person_folders(tmp_path / "people", {"Ada": ("red", 4), "Bo": ("blue", 4)})
    model = tmp_path / "trained.joblib"
    options = ("--engine", "classic", "--models", "logistic_regression", "--folds", "2", "--test-size", "0.5")
    code, _, err = run(capsys, "train", people, "--out", model, *options)
    assert code == 0, err
    assert len(load_bundle(model).training_photos) == 8  # the photos' sha256, held-out ones too
    (people / "Bo" / "new.jpg").write_bytes(make_photo_like(people / "Bo" / "bo 0.jpg"))

    code, out, err = run(capsys, "evaluate", people, "--model", model, "--json")
    assert code == 0
    assert json.loads(out)["photos_in_training"] == 8
    warning = (
        "warning: 8 of 9 photos were used to train this model: "
        "these figures overstate how it does on new photos"
    )
    assert warning in err.splitlines()
    code, out, err = run(capsys, "evaluate", people, "--model", model)
    assert out.splitlines()[:2] == [
        "photos: 9",
        "photos this model was trained on: 8 (the figures overstate it)",
    ]
    assert warning in err.splitlines()

    for photo in people.glob("*/* ?.jpg"):
        photo.unlink()  # only the new photo is left: nothing to warn about
    code, out, err = run(capsys, "evaluate", people, "--model", model, "--json")
    assert json.loads(out)["photos_in_training"] == 0
    assert "warning" not in err


def make_photo_like(photo: Path) -> bytes:
    """The same picture with other bytes: one pixel changed, saved again."""
    rgb = cv2.imread(str(photo))
    rgb[0, 0] = 255 - rgb[0, 0]
    return cv2.imencode(".jpg", rgb)[1].tobytes()


def test_evaluate_a_file_is_a_usage_error(capsys, model_path: Path, tmp_path: Path):
    code, out, err = run(capsys, "evaluate", tmp_path / "nowhere", "--model", model_path)
    assert code == 2
    assert out == ""
    assert err == f"error: {tmp_path / 'nowhere'} is not a folder\n"


# --------------------------------------------------------------------------- train


def test_train_end_to_end(capsys, tmp_path: Path, make_person_folders, photos: dict[str, Path]):
    source = make_person_folders(tmp_path / "people", {"Ada": ("red", 5), "Bo": ("blue", 5)})
    before = sorted(source.rglob("*"))
    # The classic engine: only its features tell the tinted people apart.
    options = ("--engine", "classic", "--models", "logistic_regression", "--folds", "2", "--test-size", "0.5")
    code, out, err = run(capsys, "train", source, *options)
    assert code == 0, err
    default = tmp_path / "env-models" / "model.joblib"  # CELEB_MODELS_DIR
    history = tmp_path / "env-models" / "history"
    assert out.rstrip().endswith(
        f"model saved to {default}; the model it replaced, if any, is kept in {history}"
    )
    assert "winner: logistic_regression, test accuracy " in out
    assert "imported 10 added, 0 skipped" in err
    assert "faces: 10 with both eyes in 10 new photos, 10 kept" in err
    assert sorted(source.rglob("*")) == before  # the source folder is only read
    bundle = load_bundle(default)
    assert bundle.classes == ["Ada", "Bo"]
    assert bundle.metrics["winner"] == "logistic_regression"
    assert bundle.metrics["train_size"] + bundle.metrics["test_size"] == 10
    assert len(bundle.dataset_fingerprint) == 16
    code, out, _ = run(capsys, "classify", "--json", "--threshold", "0", photos["Bo"], photos["Ada"])
    assert code == 0
    assert [r["faces"][0]["person"] for r in json_lines(out)] == ["Bo", "Ada"]


def test_train_on_a_dataset_store(capsys, tmp_path: Path, make_photo):
    from celeb.dataset import DatasetStore

    store = DatasetStore(tmp_path / "store")
    for person, tint in (("Ada", "red"), ("Bo", "blue")):
        store.add_person(person)
        for seed in range(4):
            store.add_photo(person, make_photo(tint, 300 + seed), f"{seed}.jpg")
    out_path = tmp_path / "out" / "m.joblib"
    code, out, err = run(
        capsys,
        "train",
        store.root,
        "--engine",
        "classic",
        "--out",
        out_path,
        "--models",
        "svm_linear",
        "--folds",
        "2",
        "--test-size",
        "0.5",
    )
    assert code == 0, err
    assert "faces: 8 with both eyes in 8 new photos, 8 kept" in err
    assert "winner: svm_linear, test accuracy " in out
    people = store.people("classic")
    assert [(p.name, p.unprocessed, p.kept) for p in people] == [("Ada", 0, 4), ("Bo", 0, 4)]
    bundle = load_bundle(out_path)
    assert bundle.classes == ["Ada", "Bo"]
    assert bundle.dataset_fingerprint == store.fingerprint("classic")
    assert bundle.metrics["winner"] == "svm_linear"


def test_train_with_one_person(capsys, tmp_path: Path, make_photo):
    (tmp_path / "people" / "Ada").mkdir(parents=True)
    (tmp_path / "people" / "Ada" / "one.jpg").write_bytes(make_photo("red", 1))
    (tmp_path / "people" / "Ada" / "notes.txt").write_text("x")
    code, out, err = run(
        capsys, "train", tmp_path / "people", "--engine", "classic", "--out", tmp_path / "m.joblib"
    )
    assert code == 1
    assert out == ""
    assert "imported 1 added, 1 skipped" in err
    assert "  skipped notes.txt: " in err
    assert "faces: 1 with both eyes in 1 new photos, 1 kept" in err
    assert err.endswith("error: training needs at least two people with faces\n")
    assert not (tmp_path / "m.joblib").exists()


def test_train_when_no_face_is_found(capsys, tmp_path: Path):
    (tmp_path / "people" / "Ada").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "people" / "Ada" / "plain.png"), np.full((50, 50, 3), 80, np.uint8))
    code, _, err = run(capsys, "train", tmp_path / "people", "--out", tmp_path / "m.joblib")
    assert code == 1
    assert err.endswith("error: training needs at least two people with faces\n")


def test_train_on_a_missing_folder(capsys, tmp_path: Path):
    code, _, err = run(capsys, "train", tmp_path / "nowhere")
    assert code == 2
    assert err == f"error: {tmp_path / 'nowhere'} is not a folder\n"


def test_train_keeps_the_model_it_replaces_in_history(capsys, tmp_path: Path, make_person_folders):
    from celeb.registry import ModelRegistry

    source = make_person_folders(tmp_path / "people", {"Ada": ("red", 4), "Bo": ("blue", 4)})
    options = ("--engine", "classic", "--models", "logistic_regression", "--folds", "2", "--test-size", "0.5")
    models = tmp_path / "env-models"  # CELEB_MODELS_DIR
    assert run(capsys, "train", source, *options)[0] == 0
    first = (models / "model.joblib").read_bytes()
    assert ModelRegistry(models).history() == []
    code, out, err = run(capsys, "train", source, "--test-size", "0.4", *options[:-2])
    assert code == 0, err
    assert f"is kept in {models / 'history'}" in out
    [earlier] = ModelRegistry(models).history()
    assert ModelRegistry(models).history_path(earlier.id).read_bytes() == first
    # An --out that is not a folder's active model is written alone, with no history beside it.
    other = tmp_path / "elsewhere" / "m.joblib"
    assert run(capsys, "train", source, "--out", other, *options)[0] == 0
    assert other.is_file() and not (other.parent / "history").exists()


def test_train_quick_retrains_the_active_models_winner_alone(capsys, tmp_path: Path, make_person_folders):
    source = make_person_folders(tmp_path / "people", {"Ada": ("red", 4), "Bo": ("blue", 4)})
    options = ("--engine", "classic", "--folds", "2", "--test-size", "0.5")
    both = ("--models", "logistic_regression", "svm_linear")
    assert run(capsys, "train", source, *options, *both)[0] == 0
    active = load_bundle(tmp_path / "env-models" / "model.joblib")  # CELEB_MODELS_DIR
    code, out, err = run(capsys, "train", source, "--quick", *options)
    assert code == 0, err
    quick = load_bundle(tmp_path / "env-models" / "model.joblib")
    assert quick.winner_params == active.winner_params
    assert f"winner: {quick.metrics['winner']}" in out and quick.metrics["winner"] == active.metrics["winner"]
    loser = ({"logistic_regression", "svm_linear"} - {active.metrics["winner"]}).pop()
    assert loser not in out  # the other candidate is not trained again
    for extra in (both, ("--compare",)):
        code, _, err = run(capsys, "train", source, "--quick", *options, *extra)
        assert code == 2 and err.startswith("error: --quick"), err


def test_train_names_people_after_identifier_like_folders(capsys, tmp_path: Path, make_person_folders):
    source = make_person_folders(tmp_path / "people", {"ada_lovelace": ("red", 4), "Bo": ("blue", 4)})
    options = ("--engine", "classic", "--models", "logistic_regression", "--folds", "2", "--test-size", "0.5")
    code, _, err = run(capsys, "train", source, "--out", tmp_path / "m.joblib", *options)
    assert code == 0, err
    assert load_bundle(tmp_path / "m.joblib").classes == ["Ada Lovelace", "Bo"]


def test_cli_text_shows_control_characters_literally():
    assert cli.terminal_text("Ann\x1b[2J\x07") == "Ann\\x1b[2J\\x07"
    assert cli.terminal_text("<img src=x onerror=alert(1)>") == "<img src=x onerror=alert(1)>"
    assert cli.terminal_text(np.str_("Đoković")) == "Đoković"


def test_train_compare_prints_every_engine_on_the_same_photos(capsys, tmp_path: Path, make_person_folders):
    """Issue 21: the CLI gets what the app has: engines compared on the same held-out photos."""
    from celeb.engines import engine_available

    source = make_person_folders(tmp_path / "people", {"Ada": ("red", 4), "Bo": ("blue", 4)})
    options = ("--models", "logistic_regression", "--folds", "2", "--test-size", "0.5")
    code, out, _ = run(capsys, "train", source, "--compare", *options, "--out", tmp_path / "m.joblib")
    assert code == 0
    engines = [name for name in ("classic", "embeddings") if engine_available(name)]
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["engine", "winner"]
    rows = [line.split()[0] for line in lines[1 : 1 + len(engines)]]
    assert rows == sorted(engines, key=["embeddings", "classic"].index)
    assert "held-out photos, the same for every engine; no model was saved" in out
    assert not (tmp_path / "m.joblib").exists()


def test_a_reader_that_goes_away_is_no_traceback(tmp_path: Path, model_path: Path, photos: dict[str, Path]):
    """`python -m celeb classify ... | head -1` stops quietly (it printed a BrokenPipeError traceback)."""
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "celeb",
        "classify",
        "--model",
        str(model_path),
        *[str(photos["Ada"])] * 40,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT_ROOT)
    process.stdout.readline()
    process.stdout.close()  # as `head -1` does once it has its line
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode(errors="replace")
    assert process.returncode in (0, 141)
