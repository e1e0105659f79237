"""Tests for celeb.names: what a name may be, the folder it is stored in."""

from __future__ import annotations

import pytest
from helpers import HOSTILE_NAME, SLASH_MESSAGE, slash_message

from celeb.errors import InvalidNameError
from celeb.names import MAX_NAME_LENGTH, slugify, validate_name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "a name cannot be empty"),
        ("   \t ", "a name cannot be empty"),
        ("x" * (MAX_NAME_LENGTH + 1), f"a name can have at most {MAX_NAME_LENGTH} characters"),
        ("../etc", SLASH_MESSAGE),
        ("AC/DC", SLASH_MESSAGE),
        ("back\\slash", SLASH_MESSAGE),
        ("Bo\x00b", "a name cannot contain control or invisible characters"),
        ("Bo\nb", "a name cannot contain control or invisible characters"),
        ("Bo\x1b[31mb", "a name cannot contain control or invisible characters"),
        ("Bo\u200bb", "a name cannot contain control or invisible characters"),  # zero-width space
        ("Bo\u202eb", "a name cannot contain control or invisible characters"),  # right-to-left override
        (".", "a name cannot be only dots"),
        ("..", "a name cannot be only dots"),
        (" ... ", "a name cannot be only dots"),
        (None, "a name must be text"),
        (42, "a name must be text"),
    ],
)
def test_validate_name_refuses(name, message):
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_slash_message_names_both_characters():
    assert slash_message().startswith("a name cannot contain '/' or '")
    assert "\\" in slash_message()


def test_slash_message_shows_one_backslash():
    assert slash_message() == "a name cannot contain '/' or '\\'"
    assert slash_message() == SLASH_MESSAGE


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("  Serena Williams ", "Serena Williams"),
        ("Novak Đoković", "Novak Đoković"),
        ("李娜", "李娜"),
        ("Zoë", "Zoë"),
        ("Jose\u0301", "Jos\u00e9"),  # combining accent: stored composed (NFC)
        (HOSTILE_NAME, HOSTILE_NAME),
        ("O'Neal; DROP TABLE people", "O'Neal; DROP TABLE people"),
        ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
        ("..a", "..a"),
    ],
)
def test_validate_name_keeps_names_as_typed(name, stored):
    assert validate_name(name) == stored


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Roger Federer", "roger_federer"),
        ("Novak Đoković", "novak_okovic"),
        ("José", "jose"),
        ("李娜", "person"),
        ("...", "person"),
        (HOSTILE_NAME, "img_src_x_onerror_alert_1"),
        ("  A--B  ", "a_b"),
        ("CON", "con"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


def test_slugify_is_short_and_safe():
    slug = slugify("A very long name " * 10)
    assert len(slug) <= 40
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
