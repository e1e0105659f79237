"""The state file a rerun resumes from: ``DEST/.celeb-sort.json``, what each photo gave (its
path, size and modification time, people, folders, copies; an unknown face's embedding) and the
copies sort made (their size and time, so that only those are ever removed)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .destination import Destination
from .report import SortedPhoto

STATE_FILE = ".celeb-sort.json"


@dataclass
class SortState:
    photos: dict[str, SortedPhoto] = field(default_factory=dict)
    written: dict[str, tuple[int, int]] = field(default_factory=dict)


def load_state(path: Path) -> SortState:
    """What an earlier run recorded (nothing when there is no record or it is damaged)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        photos = [
            SortedPhoto(
                **{
                    **r,
                    "people": tuple(r["people"]),
                    "folders": tuple(r["folders"]),
                    "unknown_vectors": tuple(r.get("unknown_vectors", ())),
                    "files": tuple(r.get("files", ())),
                }
            )
            for r in state["photos"]
        ]
        written = {
            str(name): (int(size), int(mtime)) for name, (size, mtime) in state.get("written", {}).items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return SortState()
    return SortState({photo.path: photo for photo in photos}, written)


def save_state(place: Destination, photos: Iterable[SortedPhoto]) -> None:
    """Record what each photo gave and the copies made (JSON in ASCII: a file name's undecodable
    bytes are kept as ``\\udcNN`` escapes, read back as the same name)."""
    written = {name: list(stamp) for name, stamp in place.copies_made().items()}
    state = {"version": 2, "photos": [asdict(photo) for photo in photos], "written": written}
    place.write(STATE_FILE, json.dumps(state, ensure_ascii=True, indent=0).encode("ascii"))
