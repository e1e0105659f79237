"""Classify: drop photos (or take one) and see who is on them."""

import streamlit as st

from celeb import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    ENGINE_LABELS,
    INSTALL_ENGINES_COMMAND,
    MAX_UPLOAD_MB,
    VISITOR_MAX_FILES,
    VISITOR_MAX_UPLOAD_MB,
)
from celeb_app import access, navigation, resources
from celeb_app.text import names, point_summary
from celeb_app.uploads import UPLOAD_TYPES, release_uploads

navigation.start(__file__)

st.title("Who is this?")
model = resources.active_card()  # the card only: the model itself loads after the page is drawn
if model is None:
    if not access.is_owner():
        st.info("There is no model yet, so the app cannot name anyone.", icon=":material/info:")
        st.stop()
    st.info(
        "There is no model yet, so the app cannot name anyone. Add photos of each person on the "
        "**Dataset** page, find their faces, then train a model on the **Train** page.",
        icon=":material/info:",
    )
    navigation.link("dataset", "Go to Dataset")
    st.stop()

st.caption(f"Drop photos to find the faces in them and name each among: {names(model.info.classes)}.")
# Whether the model's engine is installed is checked once the page is drawn (the check imports
# the engine, OpenCV and NumPy); without it, the photo picker goes and this says why.
engine_problem = st.empty()

points = {point["strictness"]: point for point in model.info.operating_points}
strictness = None
if points:  # an open-set model: named by its rule, at a strictness the owner may change
    strictness = st.sidebar.select_slider(
        "Naming",
        options=list(points),
        value=model.info.strictness if model.info.strictness in points else next(iter(points)),
        key=f"strictness_{model.version.mtime_ns}",  # each model starts at its own saved choice
        help="Stricter: fewer wrong names, more faces answered 'unknown'. Looser: the opposite. "
        "Each setting was fitted on the training faces, with every person left out in turn as a stranger.",
    )
    st.sidebar.caption(point_summary(points[strictness]))
threshold = DEFAULT_CONFIDENCE_THRESHOLD
if not points:  # an open-set model names by its rule, not by probability
    threshold = st.sidebar.slider(
        "Confidence threshold",
        min_value=0.0,
        max_value=1.0,
        value=DEFAULT_CONFIDENCE_THRESHOLD,
        step=0.05,
        format="percent",
        key="threshold",
        help="Below this probability a face is answered with 'not sure' (and the best guess) instead of "
        "a name.",
    )

picker = st.empty()
with picker.container():
    uploads = st.file_uploader(
        "Photos",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key="photos",
        max_upload_size=MAX_UPLOAD_MB,
        help="JPEG, PNG, WebP, BMP, GIF or TIFF. iPhone HEIC photos must be exported as JPEG first.",
    )
    camera_on = st.toggle("Take a photo with the camera", key="camera_on")
    shot = (
        st.camera_input("Camera", key="camera", label_visibility="collapsed", width=520)
        if camera_on
        else None
    )

st.caption(
    ":material/lock: Your photos are processed in memory for this page only: "
    "never saved to disk, logged, or shown to anyone else."
)
if not access.is_owner():
    # The server refuses a visitor's files past these before reading them; the picker can only
    # mark them failed ("Request failed with status code 400"), so the page says the rule.
    st.caption(
        f"Visitors: at most {VISITOR_MAX_FILES} photos and {VISITOR_MAX_UPLOAD_MB} MB at once, "
        f"{MAX_UPLOAD_MB} MB a photo. Files past that are refused and marked as failed in the list "
        "above: remove some photos to add others."
    )
if model.info.engine not in resources.available_engines():
    picker.empty()
    engine_label = ENGINE_LABELS.get(model.info.engine, model.info.engine)
    engine_problem.error(
        f"The active model was trained with the {engine_label} "
        f"engine, which is not installed here: run `{INSTALL_ENGINES_COMMAND}` and restart the app, or "
        "make a model of an installed engine active on the Train page.",
        icon=":material/extension_off:",
    )
    st.stop()
# Nothing is read before the visitor's cap is applied: each file over it is memory the visitor
# could make the server hold (24 files of 40 MB took it from 318 MB to 2.2 GB).
chosen = [(upload.name, upload) for upload in uploads or []]
if shot is not None:
    chosen.append(("Camera photo", shot))
if len(chosen) > VISITOR_MAX_FILES and not access.is_owner():
    ignored = chosen[VISITOR_MAX_FILES:]
    st.warning(
        f"Only the first {VISITOR_MAX_FILES} of your {len(chosen)} photos are classified; the other "
        f"{len(ignored)} were not read. To see them, remove some photos and add those again.",
        icon=":material/warning:",
    )
    release_uploads(upload for _, upload in ignored)
    chosen = chosen[:VISITOR_MAX_FILES]
photos = [(name, upload.getvalue()) for name, upload in chosen if not upload.closed]  # closed: over the cap
if photos:
    # The results' code (NumPy, OpenCV, scikit-learn) is imported only now: the first page needs none of it.
    from celeb_app import classify_view

    classify_view.show_results(photos, model, threshold, strictness)
else:
    st.session_state.pop("classified", None)  # nothing shown: nothing of a photo is kept
resources.warm_up(model)  # after the page is drawn: the first photo finds the model ready
