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


def point_summary(point: dict) -> str:
    """What one fitted naming setting (an OperatingPoint as a dict) did, in a sentence.

    >>> point = {"strictness": "strict", "max_distance": 0.45, "min_margin": 0.06,
    ...          "strangers_unknown": 0.991, "known_named_right": 0.9}
    >>> point_summary(point).split(" (")[0]
    'Strict: 99% of strangers answered unknown, 90% of known people named right'
    """
    name = str(point["strictness"]).capitalize()
    strangers, known = point.get("strangers_unknown"), point.get("known_named_right")
    if strangers is None or known is None:
        return f"{name}: not measured (too few people or photos to leave one out)."
    return (
        f"{name}: {strangers:.0%} of strangers answered unknown, {known:.0%} of known people named right "
        "(on the training faces, each person left out in turn as a stranger)."
    )
