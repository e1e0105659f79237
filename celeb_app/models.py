"""Pieces of the Train page: training with live progress, a model's figures, the history."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from celeb.dataset import DatasetStore
from celeb.engines import Engine
from celeb.errors import TrainingError
from celeb.model import ModelBundle, bundle_from_training
from celeb.registry import ModelInfo, ModelRegistry, bundle_bytes
from celeb.train import CANDIDATES, TrainingResult, TrainingSet, held_out_photos, train_best_model
from celeb_app import access, common
from celeb_app.charts import confusion_figure, report_table


@dataclass
class Trained:
    """A training run's outcome, kept in the session until replaced."""

    result: TrainingResult
    bundle: ModelBundle
    activated: bool = False


def label(name: str) -> str:
    candidate = CANDIDATES.get(name)
    return candidate.label if candidate else name


def train(
    store: DatasetStore,
    models: list[str],
    test_size: float,
    folds: int,
    params: dict | None = None,
    engine: Engine | None = None,
    test_photos: set[str] | None = None,
) -> Trained | None:
    """Train with live progress; None (after saying why and what to do) when the data is too thin."""
    access.require_owner_action()  # training is the owner's, even when a visitor's rerun gets here
    engine = engine or store.engine()
    with st.status(f"Training: {engine.label}…", expanded=True) as status:
        copies = " (and its mirror image)" if engine.mirror else ""
        st.write(f"Computing the features of every kept crop{copies}…")
        data, crop_ids = store.training_set(engine, on_unreadable=_say_left_out)
        people = len(set(data.labels.tolist()))
        st.write(f"{common.plural(len(crop_ids), 'crop')} of {common.plural(people, 'person', 'people')}.")
        bar = st.progress(0.0, text="Starting…")

        def progress(step: str, done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"{step} ({done}/{total} models done)")

        try:
            result = train_best_model(
                data,
                models=models,
                test_size=test_size,
                folds=folds,
                progress=progress,
                params=params,
                grids=engine.grids,
                test_photos=test_photos,
            )
        except TrainingError as exc:
            status.update(label="Not enough data to train", state="error", expanded=True)
            st.error(common.message(exc), icon=":material/error:")
            st.markdown(
                "What to do: on the **Dataset** page, add more photos of the people named, press "
                "**Find faces**, and keep crops from several different photos of each person "
                "(delete a person you do not have photos of yet). A smaller test share needs fewer photos."
            )
            return None
        bar.progress(1.0, text="Done")
        bundle = bundle_from_training(result, engine, data, store.fingerprint(engine.name))
        status.update(
            label=f"Trained ({engine.label}): {label(result.winner)}, "
            f"test accuracy {result.test_accuracy:.0%}",
            state="complete",
            expanded=False,
        )
    return Trained(result, bundle)


def _say_left_out(why: str) -> None:
    st.warning(common.md(common.message(why)), icon=":material/warning:")


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
        f" ({metrics.get('train_size', '?')} for training) · trained {common.when(bundle.trained_at)}"
    )
    report = metrics.get("report")
    if report:
        st.dataframe(report_table(report), width="stretch")
    confusion = metrics.get("confusion")
    if confusion:
        figure = confusion_figure(confusion, bundle.classes, "Confusion on the test photos")
        st.pyplot(figure, width="content")


def common_test_photos(store: DatasetStore, engines: list[Engine], test_size: float) -> set[str]:
    """Photos to hold out for every engine alike: a stratified split of the photos any of them uses.

    Only people and photos are needed, so no feature is computed here (training computes them, with
    its progress shown).
    """
    faces = [face for engine in engines for face in store.kept_photos(engine.name)]
    union = TrainingSet(
        np.zeros((len(faces), 1), np.float32),
        np.asarray([person for person, _ in faces], dtype=object),
        np.asarray([photo for _, photo in faces]),
        np.zeros(len(faces), bool),
    )
    return held_out_photos(union, test_size)


def use_buttons(registry: ModelRegistry, trained: Trained, key: str) -> None:
    """"Use this model" (keeps the active one in the history) and the download of the new model."""
    with st.container(horizontal=True):
        if st.button(
            "Use this model",
            type="primary",
            disabled=trained.activated,
            icon=":material/published_with_changes:",
            key=f"use_{key}",
            help="Saves it as models/model.joblib; the model it replaces is kept in the history below.",
        ):
            registry.activate(trained.bundle)
            trained.activated = True
            common.flash("The new model is active: the Classify page uses it now.")
            st.rerun()
        model_download(trained.bundle, key=f"download_{key}")


def headline(result: TrainingResult, active: ModelBundle | None, engine_label: str = "") -> None:
    """The new model's winner and test accuracy, with the change from the active model."""
    winner, accuracy, faces = st.columns(3)
    winner.metric("Best model", label(result.winner), border=True, help=engine_label or None)
    delta = None
    # Accuracies on different sets of people are not comparable: no delta then.
    if (
        active is not None
        and active.test_accuracy is not None
        and sorted(active.classes) == sorted(result.classes)
    ):
        delta = f"{(result.test_accuracy - active.test_accuracy) * 100:+.1f} points vs the active model"
    accuracy.metric("Test accuracy", f"{result.test_accuracy:.1%}", delta=delta, border=True)
    faces.metric("Faces", f"{result.train_size} train · {result.test_size} test", border=True)


def comparison_table(result: TrainingResult) -> pd.DataFrame:
    frame = pd.DataFrame(result.table())
    frame["winner"] = frame["winner"].map({True: "✓", False: ""})
    return frame


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
                        f"**Trained {common.when(info.trained_at)}** · test accuracy {accuracy} · "
                        f"{label(info.winner) or 'unknown model'}"
                    )
                    knows = common.names(info.classes) or "nobody"
                    st.caption(f"Knows {knows} · replaced {common.when(info.archived_at)}")
            with actions:
                if st.button(
                    "Make active",
                    key=f"restore_{info.id}",
                    disabled=bool(info.problem),
                    icon=":material/restore:",
                    width="stretch",
                ):
                    registry.restore(info.id)
                    common.flash("The earlier model is active again; the Classify page uses it now.")
                    st.rerun()
