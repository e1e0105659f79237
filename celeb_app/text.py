"""User text for Streamlit markdown: names escaped, counts and times in words."""

from __future__ import annotations

import datetime as dt
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")

#: A colon that could open a Streamlit shortcode: ":material/home:", ":streamlit:", ":smile:".
_SHORTCODE_COLON = re.compile(r":(?=[\w+-])")

#: U+2060 WORD JOINER: invisible, and not a word character, so no shortcode pattern matches across it.
WORD_JOINER = "\u2060"


def md(text: object) -> str:
    """User text (names, file names) escaped for Streamlit markdown: shown as typed, never as links.

    A backslash does not stop shortcodes: Streamlit's browser code turns
    ":material/" into ":material_" in the raw text, then finds icons, emoji
    and its logo in the parsed text, where "\\:" is a plain ":" again. An
    invisible word joiner after such a colon breaks every one of those
    patterns and leaves the name looking the same.
    """
    return _MARKDOWN.sub(r"\\\1", _SHORTCODE_COLON.sub(":" + WORD_JOINER, str(text)))


def names(values: object) -> str:
    """A list of person names for markdown."""
    return ", ".join(md(value) for value in values)  # type: ignore[union-attr]


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(2, "photo")`` is "2 photos"; ``many`` for irregular plurals ("people")."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def when(iso: str) -> str:
    """An ISO time as "2025-11-25 09:27 UTC (3 days ago)"; "unknown" when empty."""
    if not iso:
        return "at an unknown time"
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC ({ago(moment)})"


def ago(moment: dt.datetime) -> str:
    seconds = (dt.datetime.now(dt.UTC) - moment).total_seconds()
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"
