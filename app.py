"""celeb: who of my five favourite sports people is this?

Run with ``streamlit run app.py``. Three pages: Classify (the default),
Dataset (collect and curate photos) and Train (pick a model, make it active).
"""

import streamlit as st

from celeb_app import common

st.set_page_config(page_title="Who is this? · celeb", page_icon=":material/sports_tennis:", layout="wide")

page = st.navigation(
    [
        st.Page(common.CLASSIFY_PAGE, title="Classify", icon=":material/face:", default=True),
        st.Page(common.DATASET_PAGE, title="Dataset", icon=":material/photo_library:"),
        st.Page(common.TRAIN_PAGE, title="Train", icon=":material/model_training:"),
    ]
)

with common.friendly_errors():
    common.sidebar_model_card()
with common.friendly_errors():
    common.show_callback_errors()
    with common.running_app():
        page.run()
