"""What several pages show: the sidebar's model card, the engine picker, the Cloud note."""

from __future__ import annotations

import streamlit as st

from celeb import DEFAULT_ENGINE, ENGINE_LABELS, ENGINE_NAMES, INSTALL_ENGINES_COMMAND, CelebError
from celeb_app import access, navigation, resources
from celeb_app.access import on_streamlit_cloud
from celeb_app.messages import message
from celeb_app.text import md, names, when


def cloud_note() -> None:
    """On the Cloud without a database, say that uploads and retraining do not last."""
    if on_streamlit_cloud() and not resources.location().database_url:
        st.info(
            "This app runs on Streamlit Community Cloud without a database: photos you add, crops you "
            "reject and models you train here are lost when the app restarts. To keep them, give the app "
            'a PostgreSQL database (README, "Deploy": `[connections.celeb] url` in its Secrets).',
            icon=":material/cloud:",
        )


def sidebar_store() -> None:
    """The owner's line on where their work is kept (the database's server and name, never its URL)."""
    location = resources.location()
    if location.database_url:
        st.sidebar.caption(f":material/database: Your work is kept in {md(location.shown())}.")
    else:
        st.sidebar.caption(":material/folder: Your work is kept in this server's `dataset/` and `models/`.")


def engine_picker() -> str:
    """The engine the Dataset and Train pages work with (shared, in the session): a picker when
    more than one engine is installed, else a note on how to install the others."""
    available = resources.available_engines()
    if st.session_state.get("engine") not in available:
        st.session_state["engine"] = DEFAULT_ENGINE if DEFAULT_ENGINE in available else available[0]
    if len(available) == 1:
        missing = ", ".join(ENGINE_LABELS[name] for name in ENGINE_NAMES if name not in available)
        st.caption(
            f":material/extension: One engine here ({ENGINE_LABELS[available[0]]}). {missing} "
            f"(more faces found and named) needs `{INSTALL_ENGINES_COMMAND}`."
        )
        return available[0]
    return st.segmented_control(
        "Engine",
        available,
        format_func=ENGINE_LABELS.get,
        required=True,
        key="engine",
        help="How faces are found and described. Each engine keeps its own crops (and your rejections "
        "of them); a model is trained with, and classifies with, one engine.",
    )


def sidebar_model_card() -> None:
    """The active model in the sidebar: who it knows, how good, when trained."""
    with st.sidebar.container(border=True):
        st.markdown("**Active model**")
        try:
            model = resources.active_card()
        except CelebError as exc:
            st.error(message(exc))
            if access.is_owner():
                navigation.link("train", "Train a new model")
            return
        if model is None:
            if not access.is_owner():
                st.markdown("No model yet: the app's owner has not trained one.")
                return
            st.markdown("No model yet. Add photos of each person, find their faces, then train one.")
            navigation.link("dataset", "1. Dataset")
            navigation.link("train", "2. Train")
            return
        info = model.info
        st.markdown(f"Knows **{len(info.classes)}** people: " + names(info.classes))
        if info.test_accuracy is not None:
            on = f" on {info.test_faces} test faces" if info.test_faces else ""
            st.markdown(f"Test accuracy: **{info.test_accuracy:.0%}**{on}")
        else:
            st.markdown("Test accuracy: not recorded")
        engine = ENGINE_LABELS.get(info.engine, info.engine)
        st.caption(f"{engine} engine · trained {when(info.trained_at)}")
        if info.version_note:
            note = info.version_note[0].upper() + info.version_note[1:]
            st.warning(note, icon=":material/warning:")
