"""Pieces of the Train page: training with live progress, a model's figures, the history."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from celeb import (
    CANDIDATES,
    CONFUSION_HEATMAP_MAX_PEOPLE,
    ENGINE_LABELS,
    DatasetStore,
    Engine,
    ModelBundle,
    ModelError,
    ModelInfo,
    ModelRegistry,
    PhotoScore,
    Recipe,
    TrainingError,
    TrainingResult,
    TrainingSet,
    bundle_bytes,
    compare_engines,
    most_confused,
    timings_text,
    train_from_store,
)
from celeb_app import access, resources
from celeb_app.charts import confusion_figure, report_table
from celeb_app.messages import flash, message
from celeb_app.text import md, names, plural, when


@dataclass
class Trained:
    """A training run's outcome, kept in the session until replaced."""

    result: TrainingResult
    bundle: ModelBundle
    #: The model file's SHA-256 once this tab made it active ("" before).
    activated_sha256: str = ""
    #: Scored over the photos held out for every engine compared (engines compared only).
    photos: PhotoScore | None = None


def label(name: str) -> str:
    candidate = CANDIDATES.get(name)
    return candidate.label if candidate else name


def train_engines(store: DatasetStore, engines: list[str], recipe: Recipe) -> list[Trained]:
    """Train ``engines`` by ``recipe``: one engine as :func:`train`, several compared on the same
    held-out photos (``compare_engines``; an engine without kept crops is left out, with a warning
    saying how to get them). The models trained; none when the data was too thin (said why)."""
    if len(engines) == 1:
        trained = train(store, recipe, store.engine(engines[0]))
        return [trained] if trained is not None else []
    comparison = compare_engines(
        store,
        [store.engine(name) for name in engines],
        recipe,
        lambda one, held_out: train(store, recipe, one, test_photos=held_out),
    )
    for left_out, why in comparison.skipped if comparison else []:
        # Train what can be trained, and say what was not and how to get it.
        st.warning(
            f"{left_out.label} not trained: {why} (**Dataset** page, pick that engine, **Find faces**).",
            icon=":material/warning:",
        )
    if not comparison or not comparison.runs:
        return []
    for one, trained in comparison.runs:
        trained.photos = comparison.scores[one.name] if len(comparison.runs) > 1 else None
    return [trained for _, trained in comparison.runs]


def train(
    store: DatasetStore,
    recipe: Recipe,
    engine: Engine | None = None,
    test_photos: set[str] | None = None,
) -> Trained | None:
    """Train by ``recipe`` with live progress; None (after saying why and what to do) when the data
    is too thin."""
    access.require_owner_action()  # training is the owner's, even when a visitor's rerun gets here
    engine = engine or store.engine()
    with st.status(f"Training: {engine.label}…", expanded=True) as status:
        copies = " (and its mirror image)" if engine.mirror else ""
        st.write(f"Computing the features of every kept crop{copies}…")
        bar = []  # the progress bar, shown under the crops' count once the features are ready

        def features_ready(data: TrainingSet, crop_ids: list[str]) -> None:
            people = len(set(data.labels.tolist()))
            st.write(f"{plural(len(crop_ids), 'crop')} of {plural(people, 'person', 'people')}.")
            bar.append(st.progress(0.0, text="Starting…"))

        def progress(step: str, done: int, total: int) -> None:
            bar[0].progress(done / max(total, 1), text=f"{step} ({done}/{total} models done)")

        try:
            trained = train_from_store(
                store,
                engine,
                recipe=recipe,
                test_photos=test_photos,
                progress=progress,
                on_features=features_ready,
                on_unreadable=_say_left_out,
            )
        except TrainingError as exc:
            status.update(label="Not enough data to train", state="error", expanded=True)
            st.error(message(exc), icon=":material/error:")
            st.markdown(
                "What to do: on the **Dataset** page, add more photos of the people named, press "
                "**Find faces**, and keep crops from several different photos of each person "
                "(delete a person you do not have photos of yet). A smaller test share needs fewer photos."
            )
            return None
        bar[0].progress(1.0, text="Done")
        result = trained.result
        status.update(
            label=f"Trained ({engine.label}): {label(result.winner)}, "
            f"test accuracy {result.test_accuracy:.0%}",
            state="complete",
            expanded=False,
        )
    return Trained(result, trained.bundle)


def _say_left_out(why: str) -> None:
    st.warning(md(message(why)), icon=":material/warning:")


def show_figures(bundle: ModelBundle, title: str) -> None:
    """Test accuracy, the per-person report and the confusion matrix recorded with a model."""
    st.markdown(f"#### {title}")
    metrics = bundle.metrics
    accuracy = bundle.test_accuracy
    if accuracy is None:
        st.info("This model has no recorded test figures.")
        return
    winner = metrics.get("winner", "")
    st.markdown(
        f"**{label(winner)}** · test accuracy **{accuracy:.1%}** on {metrics.get('test_size', '?')} faces"
        f" ({metrics.get('train_size', '?')} for training) · trained {when(bundle.trained_at)}"
    )
    report = metrics.get("report")
    if report:
        # Worst first: with many people, the ones the model names least well are what matters.
        table = report_table(report)
        averages = [name for name in ("macro avg", "weighted avg") if name in table.index]
        table = pd.concat(
            [table.drop(index=averages).sort_values("recall", kind="stable"), table.loc[averages]]
        )
        st.dataframe(table, width="stretch", height="auto" if len(table) <= 12 else 400)
    confusion = metrics.get("confusion")
    if confusion and len(bundle.classes) <= CONFUSION_HEATMAP_MAX_PEOPLE:
        figure = confusion_figure(confusion, bundle.classes, "Confusion on the test photos")
        st.pyplot(figure, width="content")
    elif confusion:  # a matrix of a league's people is unreadable: its largest mistakes instead
        mistakes = most_confused(confusion, bundle.classes, CONFUSION_HEATMAP_MAX_PEOPLE)
        st.markdown("**Most often confused** on the test photos")
        if mistakes:
            rows = [{"person": m.truth, "named as": m.answer, "test faces": m.faces} for m in mistakes]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        else:
            st.caption("No test face was given another person's name.")


def is_active(trained: Trained) -> bool:
    """Whether ``trained`` is the active model now: this tab made it active and no other tab, nor
    the command line, has made another active since."""
    if not trained.activated_sha256:
        return False
    try:
        card = resources.active_card()
    except ModelError:
        return False
    return card is not None and card.info.sha256 == trained.activated_sha256


def activation_note(trained: Trained) -> None:
    """Say whether ``trained`` is the model the Classify page uses."""
    if is_active(trained):
        st.success("This model is active: the Classify page uses it.", icon=":material/check_circle:")
    elif trained.activated_sha256:
        st.info(
            "Another model has been made active since this one (in another tab or from the command line): "
            "the Classify page uses that one. **Use this model** makes this one active again.",
            icon=":material/info:",
        )


def choose_strictness(trained: Trained, key: str) -> None:
    """For an open-set model: its fitted naming settings with what each did, and the one saved with
    it (the Classify page starts there)."""
    gallery = trained.bundle.gallery
    if gallery is None:
        return
    rule = gallery.rule
    st.markdown("**Naming**: who gets a name and who is 'unknown', fitted on the training faces")
    rows = [
        {
            "setting": point.strictness,
            "strangers answered unknown": point.strangers_unknown,
            "known people named right": point.known_named_right,
            "within distance": point.max_distance,
            "margin to the next person": point.min_margin,
        }
        for point in rule.points
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "strangers answered unknown": st.column_config.NumberColumn(format="percent"),
            "known people named right": st.column_config.NumberColumn(format="percent"),
            # As fitted (0.545, not 0.54): the same numbers the Classify page's answers give.
            "within distance": st.column_config.NumberColumn(format="%.3f"),
            "margin to the next person": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.caption(
        "Measured with each training person left out in turn as a stranger, and each known face against "
        "the person's other photos. Photos from elsewhere usually do a little worse."
    )
    names = [point.strictness for point in rule.points]
    chosen = st.segmented_control(
        "Saved with the model", names, default=rule.strictness, key=f"strictness_{key}", required=True
    )
    if chosen and chosen != rule.strictness:
        trained.bundle = trained.bundle.with_strictness(chosen)
        trained.activated_sha256 = ""  # another model now, whichever this tab made active
        st.rerun()


def use_buttons(registry: ModelRegistry, trained: Trained, key: str) -> None:
    """ "Use this model" (keeps the active one in the history) and the download of the new model."""
    with st.container(horizontal=True):
        if st.button(
            "Use this model",
            type="primary",
            disabled=is_active(trained),
            icon=":material/published_with_changes:",
            key=f"use_{key}",
            help="Saves it as models/model.joblib; the model it replaces is kept in the history below.",
        ):
            trained.activated_sha256 = registry.activate(trained.bundle).sha256
            flash("The new model is active: the Classify page uses it now.")
            st.rerun()
        model_download(trained.bundle, key=f"download_{key}")


#: Names short enough for a metric box a third of the page wide (a metric's value never wraps).
SHORT_LABELS = {
    "svm_rbf": "SVM RBF",
    "svm_linear": "Linear SVM",
    "logistic_regression": "Logistic",
    "random_forest": "Forest",
}

#: Parameter names as a table cell shows them: "trees=300 · features=sqrt", not "model__n_estimators=300".
PARAMETER_NAMES = {"n_estimators": "trees", "max_features": "features", "gamma": "γ"}


def short_label(name: str) -> str:
    return SHORT_LABELS.get(name) or label(name)


def headline(
    result: TrainingResult,
    active: ModelBundle | None,
    engine_label: str = "",
    photos: PhotoScore | None = None,
) -> None:
    """The new model's winner and test accuracy, with the change from the active model, and the
    people it named right far less often than the others (:func:`low_recall_warning`).

    With ``photos`` (engines compared), the accuracy over the photos every
    engine shares comes first: the per-face one is over this engine's own faces.
    Values are kept short: a metric box truncates what does not fit ("Logi…").
    """
    _headline_metrics(result, active, engine_label, photos)
    low_recall_warning(result)


def _headline_metrics(
    result: TrainingResult, active: ModelBundle | None, engine_label: str, photos: PhotoScore | None
) -> None:
    faces = f"{result.train_size} / {result.test_size}"
    faces_help = f"{result.train_size} faces for training, {result.test_size} held out to test"
    if photos is not None:
        shared, accuracy, counts = st.columns(3)
        shared.metric(
            "Same photos",
            f"{photos.accuracy:.0%}",
            border=True,
            help=f"{photos.right} of the {photos.photos} held-out photos (the same for every engine) "
            "named right"
            + (
                f"; {plural(photos.no_face, 'photo')} without a face kept, counted as misses"
                if photos.no_face
                else ""
            )
            + ".",
        )
        accuracy.metric(
            "Test accuracy",
            f"{result.test_accuracy:.0%}",
            border=True,
            help=f"Over this engine's own {result.test_size} test faces.",
        )
        counts.metric("Faces", faces, border=True, help=faces_help)
        st.caption(f"Best model: **{label(result.winner)}**")
        return
    winner, accuracy, counts = st.columns(3)
    winner.metric(
        "Best model",
        short_label(result.winner),
        border=True,
        help=" · ".join(part for part in (label(result.winner), engine_label) if part),
    )
    accuracy.metric("Test accuracy", f"{result.test_accuracy:.1%}", border=True)
    counts.metric("Faces: train / test", faces, border=True, help=faces_help)
    # The two models were tested on different faces (a delta between them read as a like-for-like
    # change, issue 23): the active model's own figure is said as what it is. Of other people, no
    # comparison at all.
    if (
        active is not None
        and active.test_accuracy is not None
        and sorted(active.classes) == sorted(result.classes)
    ):
        tested = active.metrics.get("test_size")
        st.caption(
            f"The active model scored {active.test_accuracy:.1%} on its own "
            f"{f'{tested} ' if tested else ''}test faces: other faces than these, so a rough comparison."
        )


def low_recall_warning(result: TrainingResult) -> None:
    """The people the model named right on few of their held-out test faces, worst first."""
    for warning in result.warnings:
        st.warning(md(warning[0].upper() + warning[1:]), icon=":material/warning:")


def comparison_table(result: TrainingResult, engine: str = "") -> pd.DataFrame:
    """The candidates, best first, in short cells; with ``engine``, a first column naming it."""
    rows = [
        {
            **({"engine": engine} if engine else {}),
            "model": c.label,
            "CV accuracy": c.cv_score,
            "parameters": parameters(c.params),
            "fit": c.fit_seconds,
            "winner": "✓" if c.name == result.winner else "",
        }
        for c in sorted(result.candidates, key=lambda c: c.cv_score, reverse=True)
    ]
    columns = ["model", "CV accuracy", "parameters", "fit", "winner"]
    return pd.DataFrame(rows, columns=["engine", *columns] if engine else columns)


#: Widths that show every column of the comparison whole in the main column at 1400 px.
COMPARISON_COLUMNS = {
    "engine": st.column_config.TextColumn("engine", width=250),
    "model": st.column_config.TextColumn("model", width=150),
    "CV accuracy": st.column_config.NumberColumn(
        "CV accuracy",
        format="percent",
        width=100,
        help="Best balanced accuracy in cross-validation on the training photos: the mean over people of "
        "their faces named right, so that a person with few photos counts as much as one with many",
    ),
    "parameters": st.column_config.TextColumn("parameters", width=200, help="The grid search's best"),
    "fit": st.column_config.NumberColumn(
        "fit time", format="%.1f s", width=80, help="Time of the whole grid search"
    ),
    "winner": st.column_config.TextColumn(
        "winner",
        width=70,
        help="The best in cross-validation; a tie (within the best's standard error) goes to the simpler "
        "model: logistic regression, then the linear SVM, the RBF SVM, the random forest",
    ),
}


def show_comparison(results: list[tuple[TrainingResult, str]]) -> None:
    """One table of every candidate: of one run, or of each engine's run one after the other.

    Full width, never in a column a third of the page wide: there the fit time and the winner
    went off-screen at 1400 px.
    """
    frames = [comparison_table(result, engine) for result, engine in results]
    st.dataframe(
        pd.concat(frames, ignore_index=True),
        hide_index=True,
        width="stretch",
        column_config=COMPARISON_COLUMNS,
    )
    for result, engine in results:
        prefix = f"{engine}: " if engine else ""
        for note in result.notes:
            st.caption(f":material/info: {prefix}{md(note)}")
        if result.timings:
            st.caption(f"{prefix}Time: {timings_text(result.timings)}.")


def parameters(params: dict) -> str:
    """``{"model__C": 0.01, "model__gamma": "scale"}`` as "C=0.01 · γ=scale"."""
    parts = []
    for key, value in params.items():
        name = key.removeprefix("model__")
        parts.append(
            f"{PARAMETER_NAMES.get(name, name)}={value:g}"
            if isinstance(value, float)
            else f"{PARAMETER_NAMES.get(name, name)}={value}"
        )
    return " · ".join(parts)


def engines_table(trained: list[Trained]) -> pd.DataFrame:
    """One row per engine compared: its accuracy over the shared photos first."""
    rows = []
    for one in trained:
        photos = one.photos
        rows.append(
            {
                "engine": ENGINE_LABELS.get(one.bundle.engine, one.bundle.engine),
                "on the same photos": photos.accuracy if photos else None,
                "right": photos.right if photos else None,
                "no face": photos.no_face if photos else None,
                "test accuracy (faces)": one.result.test_accuracy,
                "test faces": one.result.test_size,
                "best model": label(one.result.winner),
            }
        )
    return pd.DataFrame(rows)


ENGINES_COLUMNS = {
    "engine": st.column_config.TextColumn("engine", width=260),
    "on the same photos": st.column_config.NumberColumn(
        "on the same photos", format="percent", help="Held-out photos named right, of all of them"
    ),
    "right": st.column_config.NumberColumn("right", help="Held-out photos named right"),
    "no face": st.column_config.NumberColumn(
        "no face", help="Held-out photos where this engine kept no face: counted as misses"
    ),
    "test accuracy (faces)": st.column_config.NumberColumn(
        "test accuracy (faces)", format="percent", help="Over this engine's own test faces only"
    ),
    "test faces": st.column_config.NumberColumn("test faces"),
    "best model": st.column_config.TextColumn("best model"),
}


def model_download(bundle: ModelBundle, key: str) -> None:
    stamp = re.sub(r"[^0-9]", "", bundle.trained_at)[:12] or "model"
    st.download_button(
        "Download this model (.joblib)",
        data=lambda: bundle_bytes(bundle),
        file_name=f"celeb-model-{stamp}.joblib",
        mime="application/octet-stream",
        on_click="ignore",
        key=key,
        icon=":material/download:",
        help="To ship it: commit it as models/model.joblib and redeploy.",
    )


def history_rows(registry: ModelRegistry, history: list[ModelInfo]) -> None:
    """Earlier models, each with a Make active button."""
    for info in history:
        with st.container(border=True):
            text, actions = st.columns([4, 1], vertical_alignment="center")
            with text:
                if info.problem:
                    st.markdown(f"**Unreadable model** `{info.id}`: {info.problem}")
                else:
                    accuracy = (
                        f"{info.test_accuracy:.1%}" if info.test_accuracy is not None else "not recorded"
                    )
                    st.markdown(
                        f"**Trained {when(info.trained_at)}** · test accuracy {accuracy} · "
                        f"{label(info.winner) or 'unknown model'}"
                    )
                    knows = names(info.classes) or "nobody"
                    st.caption(f"Knows {knows} · replaced {when(info.archived_at)}")
            with actions:
                if st.button(
                    "Make active",
                    key=f"restore_{info.id}",
                    disabled=bool(info.problem),
                    icon=":material/restore:",
                    width="stretch",
                ):
                    registry.restore(info.id)
                    flash("The earlier model is active again; the Classify page uses it now.")
                    st.rerun()
