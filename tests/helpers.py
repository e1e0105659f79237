"""Plain helpers the test files share (no fixtures: those are in conftest.py).

App tests have theirs in app_helpers.py, browser tests in e2e_harness.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from celeb.cli import main
from celeb.dataset import DatasetStore
from celeb.errors import ImageError, InvalidNameError
from celeb.images import read_image
from celeb.manifest import manifest_text
from celeb.names import validate_name

#: The three tinted people of conftest.py's classic model (``bundle``), with their tints.
PEOPLE = {"Ada": "red", "Bo": "blue", "Zoë": "green"}

# ---------------------------------------------------------------- names, photos, a store's files

HOSTILE_NAME = "<img src=x onerror=alert(1)>"


def slash_message() -> str:
    """What validate_name says today about a name with '/' in it."""
    try:
        validate_name("a/b")
    except InvalidNameError as exc:
        return str(exc)
    raise AssertionError("validate_name accepted 'a/b'")


#: What validate_name must say about '/' and '\': written out, not read from validate_name, so that the
#: refusal tests compare its message with the one users are meant to see.
SLASH_MESSAGE = "a name cannot contain '/' or '\\'"


def tiny_png(seed: int, size: int = 16) -> bytes:
    """A small PNG of random pixels: distinct bytes for every seed, no face."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_error(data: bytes) -> str:
    """The message read_image gives for bad bytes (what a skipped file must show)."""
    with pytest.raises(ImageError) as info:
        read_image(data)
    return str(info.value)


def manifest(store: DatasetStore) -> dict:
    """The records as manifest.json holds them (the folder's file; a database's, as one)."""
    if store.database is None:
        return json.loads(store.manifest_path.read_text(encoding="utf-8"))
    return json.loads(manifest_text(store.records()))


def all_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}


# ---------------------------------------------------------------- the command line


def run(capsys: pytest.CaptureFixture, *argv) -> tuple[int, str, str]:
    """``python -m celeb *argv`` in this process: its exit code, stdout and stderr."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err
