"""celeb: who of my five favourite sports people is this?

Run with ``streamlit run app.py``. Three pages: Classify (the default),
Dataset (collect and curate photos) and Train (pick a model, make it active).
Dataset and Train are the owner's (see celeb_app/access.py): a visitor's
navigation has Classify only.
"""

from pathlib import Path

import streamlit as st

from celeb_app import access, common, uploads

# The tab's icon is a file shipped here, served by the app itself: a ":material/...:" icon makes the
# browser fetch it from a font CDN, which fails offline (a tennis ball in the theme's blue, 64 px).
ICON = Path(__file__).resolve().parent / "celeb_app" / "static" / "icon.png"

uploads.bound_uploads()
st.set_page_config(page_title="Who is this? · celeb", page_icon=str(ICON), layout="wide")

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
