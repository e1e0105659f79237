"""What a training run tells about itself (issue 20): where its time went, the candidates it left
out, the people it names right far less often than the others; in `python -m celeb train` and on
the Train page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from app_helpers import plain
from streamlit.testing.v1 import AppTest

from celeb.cli import main

#: Two quick people for the classic engine: its features tell the tinted astronauts apart.
QUICK = ("--engine", "classic", "--folds", "2", "--test-size", "0.5")


def run(capsys: pytest.CaptureFixture, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_where_its_time_went(capsys, tmp_path: Path, make_person_folders):
    source = make_person_folders(tmp_path / "people", {"Ada": ("red", 5), "Bo": ("blue", 5)})
    code, out, err = run(
        capsys, "train", source, "--out", tmp_path / "m.joblib", "--models", "logistic_regression", *QUICK
    )
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if line.startswith("time: ")]
    stages = [part.split(" / ")[0].rsplit(" ", 1)[0] for part in line.removeprefix("time: ").split(", ")]
    assert stages == [
        "importing",
        "finding faces",
        "features",
        "model search",
        "test and final fit",
        "model bundle",
    ]
    assert line.endswith(" s (wall / CPU)") and "; total " in line
    assert "warning:" not in err and "note:" not in err
    assert "CV balanced accuracy" in out


def test_train_prints_skipped_models_and_people_named_right_too_rarely(
    capsys, tmp_path: Path, make_person_folders, monkeypatch
):
    # Limits low enough for two people: the forest is left out, and every person is flagged.
    monkeypatch.setattr("celeb.model_search.FOREST_MAX_PEOPLE", 1)
    monkeypatch.setattr("celeb.model_search.LOW_RECALL", 1.01)
    monkeypatch.setattr("celeb.model_search.LOW_RECALL_MIN_FACES", 1)
    source = make_person_folders(tmp_path / "people", {"Ada": ("red", 5), "Bo": ("blue", 5)})
    code, out, err = run(
        capsys,
        "train",
        source,
        "--out",
        tmp_path / "m.joblib",
        "--models",
        "logistic_regression",
        "random_forest",
        *QUICK,
    )
    assert code == 0, err
    assert "note: Random forest not tried: 2 people and " in err
    assert "Random forest" not in out  # not in the comparison
    (warning,) = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warning.startswith(
        "warning: the model named these 2 people right on few of their held-out test faces (worst first): "
    )
    assert "Ada " in warning and "Bo " in warning
    assert (tmp_path / "m.joblib").is_file()  # a warning, not a refusal


def _result_page(flagged: bool) -> None:
    import numpy as np

    from celeb.model_search import CandidateResult, PersonRecall, StageTime, TrainingResult
    from celeb_app import training_view

    report = {
        "Ann": {"recall": 1.0, "support": 6},
        "Bob": {"recall": 1.0, "support": 5},
        "Cy": {"recall": 0.25 if flagged else 1.0, "support": 4},
    }
    logistic = CandidateResult("logistic_regression", "Logistic regression", 0.97, {"model__C": 0.1}, 1.2)
    result = TrainingResult(
        estimator=None, classes=["Ann", "Bob", "Cy"], candidates=[logistic],
        winner="logistic_regression", test_accuracy=0.9, report=report, report_text="",
        confusion=np.zeros((3, 3)), train_size=40, test_size=15,
        low_recall=[PersonRecall("Cy", 0.25, 4)] if flagged else [],
        notes=["Random forest not tried: 40 people and 1078 training rows."],
        timings=[StageTime("features", 1.5, 1.3), StageTime("model search", 12.0, 11.0)],
    )  # fmt: skip
    training_view.headline(result, None)
    training_view.show_comparison([(result, "")])


@pytest.mark.parametrize("flagged", [False, True])
def test_the_train_page_shows_warnings_notes_and_times(flagged):
    at = AppTest.from_function(_result_page, args=(flagged,)).run()
    assert not at.exception
    warnings = [plain(w.value) for w in at.warning]
    if flagged:
        assert len(warnings) == 1
        assert warnings[0].startswith("The model named this person right on few of their held-out test faces")
        assert "Cy 1 of 4" in warnings[0]
    else:
        assert warnings == []
    captions = [plain(c.value) for c in at.caption]
    assert any("Random forest not tried: 40 people" in c for c in captions)
    assert (
        "Time: features 1.5 / 1.3 s, model search 12.0 / 11.0 s; total 13.5 / 12.3 s (wall / CPU)."
        in captions
    )
    assert len(at.dataframe) == 1  # the comparison only


def test_stage_times_add_up(monkeypatch):
    from celeb import model_search

    ticks = iter([10.0, 12.5])
    cpu = iter([1.0, 2.0])
    monkeypatch.setattr(model_search.time, "perf_counter", lambda: next(ticks))
    monkeypatch.setattr(model_search.time, "process_time", lambda: next(cpu))
    timings: list[model_search.StageTime] = []
    with model_search.timed("features", timings):
        pass
    assert timings == [model_search.StageTime("features", 2.5, 1.0)]
    assert np.isclose(sum(t.wall for t in timings), 2.5)
