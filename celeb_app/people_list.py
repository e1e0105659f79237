"""The Dataset page's people: their table, finding one by name, and which person and tab the next
run opens on (set before a rerun: a widget's value cannot change once it is drawn)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from celeb import PersonSummary

#: The person's tabs (st.tabs key "person_tabs"), the first is open by default.
PERSON_TABS = ["Crops", "Add photos", "Rename or delete"]


def select_person(name: str) -> None:
    """Select ``name`` in the person box on the next run (the box may exist already)."""
    st.session_state["pending_person"] = name


def open_tab(label: str) -> None:
    """Open the person's tab ``label`` on the next run."""
    st.session_state["pending_tab"] = label


def apply_pending_selection() -> None:
    if "pending_person" in st.session_state:
        st.session_state["person"] = st.session_state.pop("pending_person")
    if "pending_tab" in st.session_state:
        st.session_state["person_tabs"] = st.session_state.pop("pending_tab")


def people_table(people: Sequence[PersonSummary]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "person": p.name,
                "photos": p.photos,
                "kept": p.kept,
                "rejected": p.rejected,
                "new": p.unprocessed,
            }
            for p in people
        ]
    )


#: One-word headers, their meaning in each header's tooltip: with "kept crops", "rejected crops" and
#: "not searched yet" the table was 470 px wide and a 390 px phone scrolled it sideways (issue 23).
#: "new" is the "Find faces in N new photos" button's word.
PEOPLE_COLUMNS = {
    "person": st.column_config.TextColumn("person"),
    "photos": st.column_config.NumberColumn("photos", help="Photos of this person"),
    "kept": st.column_config.NumberColumn("kept", help="Kept crops of their face: training uses these"),
    "rejected": st.column_config.NumberColumn("rejected", help="Crops rejected, by you or automatically"),
    "new": st.column_config.NumberColumn("new", help="Photos whose faces are not searched yet: Find faces"),
}


def people_named_like(people: Sequence[PersonSummary], text: str) -> list[PersonSummary]:
    """The people whose name holds ``text`` (case, accents and underscores aside); all for "".

    >>> from celeb import PersonSummary
    >>> team = [PersonSummary(n, n.lower(), 1, 0, 1, 0) for n in ("Zoë Bel", "Ann Lee", "Bo Zoe")]
    >>> [p.name for p in people_named_like(team, "zoe")]
    ['Zoë Bel', 'Bo Zoe']
    """
    wanted = _folded(text)
    return [person for person in people if wanted in _folded(person.name)]


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("_", " "))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()
