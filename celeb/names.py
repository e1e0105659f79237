"""People's names: what a name may be, its folder (slug), and when two names are one person."""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidNameError

MAX_NAME_LENGTH = 60


def validate_name(name: str) -> str:
    """The name as it will be stored (trimmed), or :class:`InvalidNameError`.

    >>> validate_name("  Serena Williams ")
    'Serena Williams'
    >>> validate_name("   ")
    Traceback (most recent call last):
    ...
    celeb.errors.InvalidNameError: a name cannot be empty
    """
    if not isinstance(name, str):
        raise InvalidNameError("a name must be text")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidNameError("a name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"a name can have at most {MAX_NAME_LENGTH} characters")
    if "/" in name or "\\" in name:
        raise InvalidNameError("a name cannot contain '/' or '\\'")
    # Control (Cc), format (Cf: zero-width, bidi overrides) and unassigned characters, and the
    # line and paragraph separators U+2028/U+2029 (Zl, Zp): a name is one line of visible text.
    if any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") for ch in name):
        raise InvalidNameError("a name cannot contain control or invisible characters")
    if name.strip(".") == "":
        raise InvalidNameError("a name cannot be only dots")
    return name


def display_name(folder_name: str) -> str:
    """A person's name from a folder name written as an identifier; other names stay as they are.

    >>> display_name("lionel_messi"), display_name("serena-williams"), display_name("Virat Kohli")
    ('Lionel Messi', 'Serena Williams', 'Virat Kohli')
    >>> display_name("McEnroe_John"), display_name("li_na_2")
    ('McEnroe_John', 'Li Na 2')
    """
    if " " in folder_name or folder_name != folder_name.lower() or not re.search(r"[_-]", folder_name):
        return folder_name
    return " ".join(word.capitalize() for word in re.split(r"[_-]+", folder_name) if word) or folder_name


def same_person(a: str, b: str) -> bool:
    """Whether two names name the same person: case, underscores and spacing aside.

    A model trained on folders named ``lionel_messi`` knows the person a user adds as
    "Lionel Messi".

    >>> same_person("lionel_messi", "Lionel  Messi"), same_person("Ann", "Anna")
    (True, False)
    """
    return person_key(a) == person_key(b)


def person_key(name: str) -> str:
    """What :func:`same_person` compares."""
    return " ".join(re.split(r"[\s_-]+", unicodedata.normalize("NFC", name).casefold())).strip()


def slugify(name: str) -> str:
    """A folder name made of ``[a-z0-9_]`` for a person name.

    >>> slugify("Novak Đoković"), slugify("李娜")
    ('novak_okovic', 'person')
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:40]
    return slug or "person"
