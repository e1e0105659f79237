"""Strangers (owner only): the faces the model calls unknown, grouped by who they look like; a group
named becomes a person of the dataset (kept, user-chosen crops), and a retrain knows them."""

import hashlib

import streamlit as st

from celeb import (
    ENGINE_LABELS,
    MAX_UPLOAD_MB,
    REVIEW_SIZE,
    SHORT_SEARCH,
    CelebError,
    UnknownFace,
    face_view,
    group_unknown,
    grouping_distance,
)
from celeb_app import navigation, resources, training_view
from celeb_app.classifying import classify_many, classify_photo
from celeb_app.text import md, plural
from celeb_app.uploads import UPLOAD_TYPES

#: Faces in a row of a group, each REVIEW_SIZE px wide.
FACES_PER_ROW = 6

navigation.start(__file__)

ENGINE = "embeddings"
NEW_PERSON = "A new person"
#: The grouping of the photos uploaded now: {"key", "photos": {sha: (name, bytes)},
#: "faces": {face id: (sha, box, view)}, "groups": {group name: [face ids]}, "others": [face ids]}.
STATE = "strangers"


def unknown_faces(photos: list[tuple[str, bytes]], model: resources.ActiveModel) -> dict:
    """Classify each photo (a photo dropped twice once); the grouping of its unknown faces (see STATE)."""
    different: dict[str, tuple[str, bytes]] = {}
    for name, data in photos:
        different.setdefault(hashlib.sha256(data).hexdigest(), (name, data))
    classified = classify_many(
        list(different.values()),
        "Looking for strangers",
        lambda name, data: classify_photo(name, data, lambda: resources.classifier(model.key)),
    )
    kept_photos: dict[str, tuple[str, bytes]] = {}
    faces: dict[str, tuple[str, list[int], object]] = {}
    found: list[UnknownFace] = []
    for name, data, prediction in classified:
        sha = hashlib.sha256(data).hexdigest()
        kept_photos[sha] = (name, data)
        photo = prediction.photo
        for index, face in enumerate(prediction.faces):
            if not face.unknown or face.features is None:
                continue
            face_id = f"{sha}-{index}"
            view = face_view(photo.rgb, [v / photo.scale for v in face.box.as_list()])
            faces[face_id] = (sha, face.box.as_list(), view)
            found.append(UnknownFace(sha, index, face.features))  # two faces of one photo: two people
    groups = group_unknown(found, grouping_distance(model.bundle))
    named = {group.name: [f"{face.photo}-{face.index}" for face in group.faces] for group in groups}
    others = named.pop("others", [])
    return {"photos": kept_photos, "faces": faces, "groups": named, "others": others}


def remove_face(state: dict, group: str, face_id: str) -> None:
    state["groups"][group].remove(face_id)
    state["others"].append(face_id)
    if not state["groups"][group]:
        del state["groups"][group]


def merge(state: dict, group: str, other: str) -> None:
    state["groups"][group] += state["groups"].pop(other)


def name_group(state: dict, group: str, choice: str, new_name: str) -> None:
    """Add the group's photos and faces to the dataset as ``choice`` (or the new person)."""
    store = resources.store()
    name = new_name.strip() if choice == NEW_PERSON else choice
    try:
        if choice == NEW_PERSON:
            existing = {p.name.casefold(): p.name for p in store.people(ENGINE)}
            name = existing.get(name.casefold()) or store.add_person(name).name
    except CelebError as exc:
        st.session_state["strangers_problem"] = str(exc)
        return
    added, problems = 0, []
    for face_id in state["groups"][group]:
        sha, box, _ = state["faces"][face_id]
        filename, data = state["photos"][sha]
        try:
            store.add_chosen_face(name, data, filename, box, engine=ENGINE)
            added += 1
        except CelebError as exc:
            problems.append(f"{filename}: {exc}")
    state["named"] = state.get("named", 0) + len(state["groups"].pop(group))
    st.session_state["strangers_named"] = (name, added, problems)
    st.session_state.pop("strangers_trained", None)


def show_group(state: dict, group: str, people: list[str]) -> None:
    face_ids = state["groups"][group]
    photos = {state["faces"][face_id][0] for face_id in face_ids}
    st.subheader(
        f"{group}: {plural(len(face_ids), 'face')} in {plural(len(photos), 'photo')}", divider="gray"
    )
    # Six columns whatever the group's size, each face at its own fixed size: two faces in two half-page
    # columns came out 170 and 460 px wide, the larger one blurred.
    columns = st.columns(FACES_PER_ROW)
    for number, face_id in enumerate(face_ids):
        sha, _, view = state["faces"][face_id]
        with columns[number % FACES_PER_ROW]:
            st.image(view, caption=md(state["photos"][sha][0]), width=REVIEW_SIZE)
            st.button(
                "Remove",
                key=f"remove_{face_id}",
                icon=":material/close:",
                help="Not this person: the face leaves the group.",
                on_click=remove_face,
                args=(state, group, face_id),
            )
    others = [name for name in state["groups"] if name != group]
    merge_column, name_column = st.columns(2, gap="large")
    if others:
        with merge_column:
            other = st.selectbox("Merge with…", others, key=f"merge_with_{group}")
            st.button(
                "Merge",
                key=f"merge_{group}",
                icon=":material/merge:",
                on_click=merge,
                args=(state, group, other),
            )
    with name_column, st.form(f"name_{group}"):
        choice = st.selectbox("Who is this?", [NEW_PERSON, *people], key=f"who_{group}")
        new_name = st.text_input("New person's name", key=f"new_name_{group}", max_chars=80)
        if st.form_submit_button("Name this group", icon=":material/badge:"):
            if choice == NEW_PERSON and not new_name.strip():
                st.warning("Type the new person's name, or choose an existing person.")
            else:
                name_group(state, group, choice, new_name)
                st.rerun()


def show_retrain() -> None:
    name, added, problems = st.session_state["strangers_named"]
    st.success(
        f"{plural(added, 'face')} added to **{md(name)}** as kept crops. "
        "Retrain so that the model knows them.",
        icon=":material/check_circle:",
    )
    for problem in problems:
        st.warning(md(problem), icon=":material/warning:")
    store = resources.store()
    if st.button("Retrain now", type="primary", icon=":material/model_training:", key="strangers_retrain"):
        trained = training_view.train(store, SHORT_SEARCH, store.engine(ENGINE))
        if trained is not None:
            st.session_state["strangers_trained"] = trained
    trained = st.session_state.get("strangers_trained")
    if trained is not None:
        st.markdown(
            f"New model: {training_view.label(trained.result.winner)}, test accuracy "
            f"{trained.result.test_accuracy:.0%}."
        )
        training_view.activation_note(trained)
        training_view.use_buttons(resources.registry(), trained, key="strangers_model")


st.title("Strangers")
st.caption(
    "Drop an album: the faces the model does not know are grouped by who they look like. Name a group "
    "to add its faces to the dataset, then retrain."
)
problem = st.session_state.pop("strangers_problem", None)
if problem:
    st.error(md(problem), icon=":material/error:")
if "strangers_named" in st.session_state:
    show_retrain()

model = resources.active_model()
if model is None or model.bundle.gallery is None:
    st.info(
        f"Grouping strangers needs an active model of the {ENGINE_LABELS.get(ENGINE, ENGINE)} engine "
        "(it compares faces by their embeddings): train one on the Train page.",
        icon=":material/info:",
    )
    st.stop()
if model.bundle.engine not in resources.available_engines():
    st.error(
        f"The active model's engine ({model.bundle.engine}) is not installed here.", icon=":material/error:"
    )
    st.stop()

uploads = st.file_uploader(
    "Album photos",
    type=UPLOAD_TYPES,
    accept_multiple_files=True,
    key="stranger_photos",
    max_upload_size=MAX_UPLOAD_MB,
)
photos = [(upload.name, upload.getvalue()) for upload in uploads or [] if not upload.closed]
if not photos:
    st.session_state.pop(STATE, None)
    st.stop()
key = (model.key, tuple(hashlib.sha256(data).hexdigest() for _, data in photos))
state = st.session_state.get(STATE)
if state is None or state["key"] != key:
    state = unknown_faces(photos, model)
    state["key"] = key
    st.session_state[STATE] = state

groups = state["groups"]
unknown = sum(len(faces) for faces in groups.values()) + len(state["others"])
named = f"; {plural(state['named'], 'face')} named" if state.get("named") else ""
st.markdown(
    f"{plural(unknown, 'unknown face')} in {plural(len(state['photos']), 'photo')}: "
    f"{plural(len(groups), 'group')}, {len(state['others'])} fitting no group{named}."
)
people = [person.name for person in resources.store().people(ENGINE)]
for group in list(groups):
    show_group(state, group, people)
if state["others"]:
    with st.expander(f"Fitting no group: {plural(len(state['others']), 'face')}"):
        columns = st.columns(FACES_PER_ROW)
        for number, face_id in enumerate(state["others"]):
            columns[number % FACES_PER_ROW].image(state["faces"][face_id][2], width=REVIEW_SIZE)
