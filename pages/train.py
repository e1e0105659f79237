"""Train: compare models on the kept crops, look at the figures, choose what the app uses."""

import pandas as pd
import streamlit as st

from celeb import CANDIDATES, ENGINE_LABELS, HISTORY_LIMIT, Recipe
from celeb_app import navigation, resources, training_view, widgets
from celeb_app.messages import show_flash
from celeb_app.text import names, plural, when

navigation.start(__file__)

st.title("Train")
st.caption(
    "Train on the kept face crops of the Dataset page: several models are compared by cross-validation, "
    "the best is scored on photos it never saw. Nothing changes for the Classify page until you choose "
    "**Use this model**."
)
widgets.cloud_note()
show_flash()
engine_name = widgets.engine_picker()
store = resources.store()
registry = resources.registry()
people = store.people(engine_name)
active, model_problem = resources.active_model_or_problem()
if model_problem:
    # A damaged model must not block its own repair: the form and the history below still work.
    st.error(
        f"The active model cannot be used: {model_problem}. Train a new model below, or make an "
        "earlier one active.",
        icon=":material/error:",
    )
others = [name for name in resources.available_engines() if name != engine_name]

# ---------------------------------------------------------------- the data

st.subheader("Training data")
usable = [p for p in people if p.kept]
if people:
    st.dataframe(
        pd.DataFrame([{"person": p.name, "kept crops": p.kept, "photos": p.photos} for p in people]),
        hide_index=True,
        width=520,
    )
else:
    st.info("The dataset is empty: add people and photos on the Dataset page first.", icon=":material/info:")
    navigation.link("dataset", "Go to Dataset")
waiting = sum(p.unprocessed for p in people)
if waiting:
    st.warning(
        f"{plural(waiting, 'photo')} not searched for faces yet: press **Find faces** on the "
        "Dataset page to use them.",
        icon=":material/warning:",
    )
if people and len(usable) < len(people):
    missing = names(p.name for p in people if not p.kept)
    st.caption(f"Left out (no kept crops): {missing}.")
fingerprint = active.bundle.dataset_fingerprint if active and active.bundle.engine == engine_name else ""
if fingerprint and people and fingerprint != store.fingerprint(engine_name):
    st.caption(":material/info: The kept crops changed since the active model was trained.")

with st.form("train_form"):
    chosen = st.multiselect(
        "Models to compare",
        list(CANDIDATES),
        default=list(CANDIDATES),
        format_func=training_view.label,
        key="train_models",
        help="Each is tuned by a grid search; the best in cross-validation wins.",
    )
    quick_params = active.bundle.winner_params if active and active.bundle.engine == engine_name else {}
    quick = st.checkbox(
        "Quick retrain: only the active model's winner, with its parameters"
        + (f" ({training_view.label(next(iter(quick_params)))})" if quick_params else ""),
        key="train_quick",
        disabled=not quick_params,
        help="Seconds instead of a full grid search: right after rejecting or adding a few crops.",
    )
    share_column, folds_column = st.columns(2)
    test_size = share_column.slider(
        "Test share",
        0.1,
        0.5,
        0.25,
        0.05,
        format="percent",
        key="train_test_size",
        help="Share of the photos held out to score the winner (whole photos: a photo's faces stay "
        "together).",
    )
    folds = folds_column.slider(
        "Cross-validation folds",
        2,
        10,
        5,
        key="train_folds",
        help="Fewer folds when some person has few photos.",
    )
    compare = st.checkbox(
        f"Also train {', '.join(ENGINE_LABELS[name] for name in others)} on the same photos, and compare"
        if others
        else "Compare engines (only one is installed)",
        key="train_compare",
        disabled=not others,
        help="Every engine is scored on the same held-out photos (a photo where it finds no face is a "
        "miss); their figures are shown side by side.",
    )
    submitted = st.form_submit_button(
        "Train", type="primary", icon=":material/model_training:", disabled=not usable
    )

if submitted:
    if quick and quick_params:  # the active model's winner alone: this engine only
        trained = training_view.train_engines(
            store, [engine_name], Recipe.quick(active.bundle, test_size, folds)
        )
    elif not chosen:
        st.error("Choose at least one model to compare.")
        trained = None
    else:
        trained = training_view.train_engines(
            store,
            [engine_name, *(others if compare else [])],
            Recipe(tuple(chosen), test_size=test_size, folds=folds),
        )
    if trained:
        st.session_state["trained"] = trained

# ---------------------------------------------------------------- the new model

trained_models = st.session_state.get("trained") or []
if len(trained_models) == 1:
    trained = trained_models[0]
    result, bundle = trained.result, trained.bundle
    st.subheader("New model")
    is_active = training_view.is_active(trained)
    comparable = active is not None and not is_active and active.bundle.engine == bundle.engine
    training_view.headline(result, active.bundle if comparable else None)
    st.markdown(
        "**Model comparison** (balanced accuracy in cross-validation on the training photos: every "
        "person counts alike)"
    )
    training_view.show_comparison([(result, "")])
    training_view.activation_note(trained)
    if is_active:
        with st.columns(2, gap="large")[0]:
            training_view.show_figures(bundle, "New model (active)")
    else:
        new_column, active_column = st.columns(2, gap="large")
        with new_column:
            training_view.show_figures(bundle, "New model")
        with active_column:
            if active is not None:
                training_view.show_figures(active.bundle, "Active model")
            else:
                st.markdown("#### Active model")
                st.info("There is no active model yet.")
    training_view.choose_strictness(trained, key="new_model")
    training_view.use_buttons(registry, trained, key="new_model")
elif trained_models:
    st.subheader("Engines compared on the same held-out photos")
    shared = trained_models[0].photos
    if shared is not None:
        st.markdown(
            f"**{plural(shared.photos, 'photo')} held out, the same for every engine**; a photo "
            "where an engine found no face counts as a miss for it. Each engine's test accuracy is over "
            "its own faces on those photos only."
        )
        st.dataframe(
            training_view.engines_table(trained_models),
            hide_index=True,
            width="stretch",
            column_config=training_view.ENGINES_COLUMNS,
        )
    st.markdown(
        "**Model comparison** (balanced accuracy in cross-validation on each engine's training photos)"
    )
    training_view.show_comparison(
        [(t.result, ENGINE_LABELS.get(t.bundle.engine, t.bundle.engine)) for t in trained_models]
    )
    for column, trained in zip(st.columns(len(trained_models), gap="large"), trained_models, strict=True):
        with column:
            engine_label = ENGINE_LABELS.get(trained.bundle.engine, trained.bundle.engine)
            st.markdown(f"#### {engine_label}")
            training_view.headline(trained.result, None, engine_label, trained.photos)
            title = "Test figures (active)" if training_view.is_active(trained) else "Test figures"
            training_view.show_figures(trained.bundle, title)
            training_view.choose_strictness(trained, key=f"new_model_{trained.bundle.engine}")
            training_view.use_buttons(registry, trained, key=f"new_model_{trained.bundle.engine}")

# ---------------------------------------------------------------- active model and history

st.subheader("Active model and earlier ones")
if model_problem:
    st.markdown(f"The active model file is damaged: {model_problem}.")
elif active is None:
    st.markdown("No active model yet.")
else:
    st.markdown(f"Active: trained {when(active.bundle.trained_at)}, knows {names(active.bundle.classes)}.")
    st.download_button(
        "Download the active model (.joblib)",
        data=registry.active_bytes,
        file_name="model.joblib",
        mime="application/octet-stream",
        on_click="ignore",
        key="download_active_model",
        icon=":material/download:",
    )
history = registry.history()
if history:
    st.caption(
        f"Earlier models, most recently replaced first (the last {HISTORY_LIMIT} are kept): "
        "make one active again if the new one disappoints."
    )
    training_view.history_rows(registry, history)
elif active is not None:
    st.caption("No earlier models: each time you use a new model, the one it replaces is kept here.")
