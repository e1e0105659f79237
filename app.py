"""celeb: who of my five favourite sports people is this?

Run with ``streamlit run app.py``. Three pages: Classify (the default),
Dataset (collect and curate photos) and Train (pick a model, make it active).
Dataset and Train are the owner's (see celeb_app/access.py): a visitor's
navigation has Classify only.
"""

import streamlit as st

from celeb_app import access, common

st.set_page_config(page_title="Who is this? · celeb", page_icon=":material/sports_tennis:", layout="wide")

pages = [st.Page(common.CLASSIFY_PAGE, title="Classify", icon=":material/face:", default=True)]
if access.is_owner():
    pages += [
        st.Page(common.DATASET_PAGE, title="Dataset", icon=":material/photo_library:"),
        st.Page(common.TRAIN_PAGE, title="Train", icon=":material/model_training:"),
    ]
page = st.navigation(pages)

with common.friendly_errors():
    common.sidebar_model_card()
with common.friendly_errors():
    access.sidebar_panel()
with common.friendly_errors():
    common.show_callback_errors()
    with common.running_app():
        page.run()
