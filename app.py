"""celeb: who of my five favourite sports people is this?

Run with ``streamlit run app.py``. The pages are listed in one table,
``celeb_app/navigation.py``'s ``PAGES``: Classify (the default; many photos
at once are sorted by who is in them), Dataset (collect and curate photos),
Train (pick a model, make it active) and Strangers (group the faces the model
does not know, and name them). All but Classify are the owner's (see
celeb_app/access.py): a visitor's navigation has Classify only.

The server's set-up happens here and nowhere else (no celeb_app module
changes anything when imported); each call below is cheap, and the
same on every script run.
"""

from pathlib import Path

import streamlit as st

from celeb import return_large_buffers_to_the_system
from celeb_app import access, messages, navigation, uploads, widgets

# The tab's icon is a file shipped here, served by the app itself: a ":material/...:" icon makes the
# browser fetch it from a font CDN, which fails offline (a tennis ball in the theme's blue, 64 px).
ICON = Path(__file__).resolve().parent / "celeb_app" / "static" / "icon.png"
#: The few rules where Streamlit's own layout cuts what a user must read (sent as style only).
STYLE = Path(__file__).resolve().parent / "celeb_app" / "style.css"

return_large_buffers_to_the_system()  # glibc: freed photos go back to the system, see bench/README.md (load)
uploads.bound_uploads()
st.set_page_config(page_title="Who is this? · celeb", page_icon=str(ICON), layout="wide")

st.html(STYLE)

page = st.navigation(navigation.pages_for(owner=access.is_owner()))

with messages.friendly_errors():
    widgets.sidebar_model_card()
with messages.friendly_errors():
    access.sidebar_panel()
    if access.is_owner():
        widgets.sidebar_store()
with messages.friendly_errors():
    messages.show_callback_errors()
    with navigation.running_app():
        page.run()
