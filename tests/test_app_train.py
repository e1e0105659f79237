"""The Train page as a user sees it at 1400 px, and the app's icon.

Metric boxes truncate what does not fit ("Logi…"), so their values are kept
short; the comparison tables have widths that show every column; engines are
compared over the same held-out photos, a photo without a face being a miss;
the tab's icon is a file the app serves itself (no font CDN, works offline).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit
from app_helpers import (
    APP,
    TRAIN,
    app,
    assert_clean,
    needs_dlib,
    plain,
    store_with_photos,
    texts,
    tiny_bundle,
)
from PIL import Image
from streamlit.testing.v1 import AppTest

from celeb.manifest import REJECTED
from celeb.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("local_browser")  # the owner, unless a test makes it a visitor

#: The main column's width at a 1400 px window with the sidebar open (layout "wide"), less margins.
MAIN_WIDTH = 920


def _result_page(photos: bool) -> None:
    import numpy as np

    from celeb.model_search import CandidateResult, PhotoScore, TrainingResult
    from celeb_app import training_view as models

    candidates = [
        CandidateResult("logistic_regression", "Logistic regression", 0.97, {"model__C": 0.001}, 12.3),
        CandidateResult("svm_rbf", "SVM (RBF kernel)", 0.95, {"model__C": 10, "model__gamma": 1e-4}, 4.2),
        CandidateResult(
            "random_forest",
            "Random forest",
            0.9,
            {"model__n_estimators": 300, "model__max_features": "sqrt"},
            40.1,
        ),
    ]
    result = TrainingResult(
        estimator=None, classes=["Ann", "Bob"], candidates=candidates, winner="logistic_regression",
        test_accuracy=0.9756, report={}, report_text="", confusion=np.zeros((2, 2)), train_size=124,
        test_size=41,
    )  # fmt: skip
    score = PhotoScore(photos=67, right=40, no_face=26) if photos else None
    models.headline(result, None, "Embeddings (dlib ResNet)", score)
    models.show_comparison([(result, "Embeddings (dlib ResNet)" if photos else "")])


def _widths(frame) -> dict[str, int]:
    config = json.loads(frame.proto.columns)
    return {name: column.get("width") for name, column in config.items()}


@pytest.mark.parametrize("photos", [False, True])
def test_metric_values_are_short_enough_not_to_be_cut(photos):
    at = AppTest.from_function(_result_page, args=(photos,)).run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    # A metric box a third of the main column wide shows about 12 characters at its font size.
    assert all(len(value) <= 12 for value in values.values()), values
    if photos:
        assert values == {"Same photos": "60%", "Test accuracy": "98%", "Faces": "124 / 41"}
        same = next(m for m in at.metric if m.label == "Same photos")
        assert "26 photos without a face kept, counted as misses" in same.help
    else:
        assert values == {
            "Best model": "Logistic",
            "Test accuracy": "97.6%",
            "Faces: train / test": "124 / 41",
        }
        best = next(m for m in at.metric if m.label == "Best model")
        assert "Logistic regression" in best.help  # the full name is one hover away


@pytest.mark.parametrize("photos", [False, True])
def test_the_comparison_shows_every_column_at_1400_px(photos):
    at = AppTest.from_function(_result_page, args=(photos,)).run()
    (table,) = at.dataframe
    frame = table.value
    expected = ["model", "CV accuracy", "parameters", "fit", "winner"]
    assert list(frame.columns) == (["engine", *expected] if photos else expected)
    widths = _widths(table)
    assert set(widths) >= set(frame.columns) and all(widths[name] for name in frame.columns)
    assert sum(widths[name] for name in frame.columns) <= MAIN_WIDTH
    # Parameters compact: no "model__" prefix, readable names, short enough for their column.
    assert frame["parameters"].tolist() == ["C=0.001", "C=10 · γ=0.0001", "trees=300 · features=sqrt"]
    assert max(len(cell) for cell in frame["parameters"]) * 8 <= widths["parameters"]
    assert frame["winner"].tolist() == ["✓", "", ""]


def train_and_compare(at):
    """Train one quick model per engine, compared on the same photos."""
    at.multiselect(key="train_models").set_value(["logistic_regression"])
    at.slider(key="train_folds").set_value(2)
    at.checkbox(key="train_compare").check()
    return next(b for b in at.button if b.label == "Train").click().run()


@needs_dlib
def test_engines_are_scored_over_the_same_photos_a_missing_face_a_miss(env, make_photo):
    dataset, _ = env
    # Six photos each: one rejected still leaves the five that training needs.
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 6), "Bob": ("blue", 6)})
    store.find_faces(engine="classic")
    at = train_and_compare(app(TRAIN, timeout=120))
    assert_clean(at)
    trained = at.session_state["trained"]
    held_out = trained[0].photos.photos
    assert trained[0].photos.no_face == trained[1].photos.no_face == 0
    # Reject the embeddings engine's face on one held-out photo: it then has no face there.
    photo = next(photo for _, photo, _ in trained[0].result.test_faces)
    crop = next(
        c
        for name in ("Ann", "Bob")
        for c in store.crops(name, engine="embeddings")
        if c.record.photo == photo
    )
    store.set_status([crop.record.id], REJECTED)
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)

    assert {photo for _, photo, _ in at.session_state["trained"][1].result.test_faces} == {
        photo for _, photo, _ in trained[1].result.test_faces
    }  # the same held-out photos as before: the classic engine still has that face
    page = plain(texts(at))
    assert f"{held_out} photos held out, the same for every engine" in page
    assert "a photo where an engine found no face counts as a miss" in page
    (engines,) = [d.value for d in at.dataframe if "on the same photos" in d.value.columns]
    rows = engines.set_index("engine")
    embeddings, classic = rows.iloc[0], rows.iloc[1]
    assert embeddings["no face"] == 1 and classic["no face"] == 0
    assert embeddings["right"] <= held_out - 1  # the photo without a face is a miss
    assert embeddings["right"] + embeddings["no face"] <= held_out
    for one in at.session_state["trained"]:
        assert one.photos.photos == held_out  # the same photos for every engine
    same = [m for m in at.metric if m.label == "Same photos"]
    assert len(same) == 2


def test_the_tab_icon_is_a_png_the_app_serves_itself(env, monkeypatch):
    """A ":material/...:" page icon makes the browser fetch it from a font CDN: offline, no icon."""
    calls = []
    real = streamlit.set_page_config
    monkeypatch.setattr(streamlit, "set_page_config", lambda **kw: (calls.append(kw), real(**kw))[1])
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert_clean(at)
    icon = calls[0]["page_icon"]
    assert not str(icon).startswith(":") and "://" not in str(icon)
    path = Path(icon)
    assert path.is_file() and path.is_relative_to(Path(APP).parent)  # shipped with the app
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (64, 64)
        assert np.asarray(image.convert("RGBA"))[..., 3].any()


# ---------------------------------------------------------------- training, the headline, the history


def test_train_shows_figures_and_use_this_model_keeps_the_previous(env, make_photo):
    dataset, models = env
    registry = ModelRegistry(models)
    registry.activate(tiny_bundle())
    store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})
    at = app(TRAIN, timeout=90)
    at.multiselect(key="train_models").set_value(["svm_linear"])
    at.slider(key="train_folds").set_value(2)
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert any(m.label == "Test accuracy" for m in at.metric)
    reports = [d.value for d in at.dataframe if "precision" in d.value.columns]
    assert len(reports) == 2  # the new model's and the active one's, side by side
    assert {"Ann", "Bob"} <= set(reports[0].index)
    assert len(at.image) >= 2  # both confusion heatmaps (st.pyplot)
    before = registry.active_bytes()

    next(b for b in at.button if b.label == "Use this model").click().run()
    assert_clean(at)
    assert (models / "model.joblib").is_file()
    assert registry.active_bytes() != before
    history = registry.history()
    assert len(history) == 1 and history[0].path.read_bytes() == before
    assert registry.load_active().classes == ["Ann", "Bob"]
    assert any("is active" in s.value for s in at.success)
    assert any(b.label == "Make active" for b in at.button)

    next(b for b in at.button if b.label == "Make active").click().run()
    assert_clean(at)
    assert registry.active_bytes() == before
    # The earlier model is active again: the new one no longer says it is (issue 18: two tabs).
    assert not any("This model is active" in s.value for s in at.success)
    assert any("Another model has been made active" in i.value for i in at.info)
    assert not next(b for b in at.button if b.label == "Use this model").disabled


def test_two_tabs_that_both_use_their_model_do_not_both_say_it_is_active(env, make_photo):
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})
    tabs = []
    for _ in range(2):
        tab = app(TRAIN, timeout=90)
        tab.multiselect(key="train_models").set_value(["svm_linear"])
        tab.slider(key="train_folds").set_value(2)
        next(b for b in tab.button if b.label == "Train").click().run()
        tabs.append(tab)
    for tab in tabs:
        next(b for b in tab.button if b.label == "Use this model").click().run()
        assert_clean(tab)
    first, second = (tab.run() for tab in tabs)
    assert any("This model is active" in s.value for s in second.success)
    assert not any("This model is active" in s.value for s in first.success)
    assert any("Another model has been made active" in i.value for i in first.info)


def test_train_with_too_little_data_says_what_to_do(env, make_photo):
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2), "Bob": ("blue", 2)})
    at = app(TRAIN, timeout=60)
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    assert any("at least" in e.value for e in at.error)
    assert any("What to do" in m.value for m in at.markdown)
    assert "trained" not in at.session_state


def _headline_page(same_people: bool) -> None:
    import numpy as np

    from celeb.model import ModelBundle
    from celeb.model_search import TrainingResult
    from celeb_app.training_view import headline

    result = TrainingResult(
        estimator=None, classes=["Ann", "Bob"], candidates=[], winner="svm_rbf", test_accuracy=0.9,
        report={}, report_text="", confusion=np.zeros((2, 2)), train_size=8, test_size=4,
    )  # fmt: skip
    people = ["Bob", "Ann"] if same_people else ["Ann", "Bob", "Cid"]
    headline(result, ModelBundle(estimator=None, classes=people, metrics={"test_accuracy": 0.8}))


@pytest.mark.parametrize("same_people", [True, False])
def test_headline_compares_accuracy_only_between_models_of_the_same_people(same_people):
    """Issue 23: "-1.4 points vs the active model" compared scores on different test faces: the active
    model's own figure is said as what it is, never as a delta; of other people, nothing."""
    at = AppTest.from_function(_headline_page, args=(same_people,)).run()
    assert not at.exception
    accuracy = next(m for m in at.metric if m.label == "Test accuracy")
    assert accuracy.value == "90.0%" and not accuracy.delta
    notes = [c.value for c in at.caption if "The active model scored" in c.value]
    said = (
        "The active model scored 80.0% on its own test faces: other faces than these, so a rough comparison."
    )
    assert notes == ([said] if same_people else [])


@needs_dlib
def test_train_compares_both_engines_on_the_same_photos(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})
    store.find_faces(engine="classic")
    at = train_and_compare(app(TRAIN, timeout=120))
    assert_clean(at)
    assert any(h.value == "Engines compared on the same held-out photos" for h in at.subheader)
    assert sum(m.label == "Test accuracy" for m in at.metric) == 2
    assert len([d for d in at.dataframe if "precision" in d.value.columns]) == 2
    assert sum(b.label == "Use this model" for b in at.button) == 2


@needs_dlib
def test_comparing_with_an_engine_that_has_no_crops_trains_the_others_and_says_what_to_do(env, make_photo):
    """Issue 23: with "Also train Classic" ticked before the classic Find faces ran, pressing Train
    showed a warning and trained nothing: what can be trained is trained, the rest is said."""
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})  # embeddings crops only
    at = app(TRAIN, timeout=90)
    at.multiselect(key="train_models").set_value(["svm_linear"])
    at.slider(key="train_folds").set_value(2)
    at.checkbox(key="train_compare").check()
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    assert any("not trained: no kept crops yet" in w.value and "Find faces" in w.value for w in at.warning)
    assert any(m.label == "Test accuracy" for m in at.metric)  # the embeddings model was trained
    assert sum(b.label == "Use this model" for b in at.button) == 1


def _figures_of_thirty_people() -> None:
    import numpy as np
    from app_helpers import tiny_bundle

    from celeb_app import training_view

    people = [f"Person {i:02d}" for i in range(30)]
    confusion = np.eye(30, dtype=int) * 3
    confusion[4, 4], confusion[4, 7] = 1, 2  # two of Person 04's faces named Person 07
    report = {p: {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 3} for p in people}
    report["Person 04"] = {"precision": 1.0, "recall": 1 / 3, "f1-score": 0.5, "support": 3}
    bundle = tiny_bundle(tuple(people))
    bundle.metrics = {**bundle.metrics, "confusion": confusion.tolist(), "report": report, "test_size": 90}
    training_view.show_figures(bundle, "New model")


def test_past_twenty_people_the_most_confused_pairs_replace_the_matrix(env):
    """Issue 20: a 158 x 158 heatmap is unreadable; the largest mistakes are listed instead, and the
    per-person report starts with the person named least well."""
    at = AppTest.from_function(_figures_of_thirty_people).run()
    assert not at.exception
    assert not at.image  # no heatmap
    tables = [d.value for d in at.dataframe]
    (mistakes,) = [t for t in tables if "named as" in t.columns]
    assert mistakes.to_dict("records") == [{"person": "Person 04", "named as": "Person 07", "test faces": 2}]
    (per_person,) = [t for t in tables if "recall" in t.columns]
    assert per_person.index[0] == "Person 04"


def test_a_quick_retrain_fits_the_active_models_winner_with_its_parameters(env, make_photo):
    dataset, models = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 5), "Bob": ("blue", 5)})
    at = app(TRAIN, timeout=90)
    assert at.checkbox(key="train_quick").disabled  # no active model of this engine yet
    at.multiselect(key="train_models").set_value(["svm_linear", "logistic_regression"])
    at.slider(key="train_folds").set_value(2)
    next(b for b in at.button if b.label == "Train").click().run()
    next(b for b in at.button if b.label == "Use this model").click().run()
    active = ModelRegistry(models).load_active().winner_params
    at.checkbox(key="train_quick").check()
    next(b for b in at.button if b.label == "Train").click().run()
    assert_clean(at)
    (trained,) = at.session_state["trained"]
    assert [c.name for c in trained.result.candidates] == list(active)  # no other candidate searched
    assert trained.result.settings["fixed_params"] == active == trained.bundle.winner_params
