"""Measure a model end to end on a folder of photos, one sub-folder per person."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classify import Classifier, FacePrediction
from .config import IMAGE_SUFFIXES
from .errors import ImageError
from .images import photo_file_bytes
from .manifest import content_hash
from .names import display_name, same_person


@dataclass(frozen=True)
class PhotoOutcome:
    file: Path
    truth: str
    answer: str | None  # the person named for the photo, None when not sure or no face
    error: str | None = None
    in_training: bool = False  # the model was trained on this very photo (by its bytes' hash)


@dataclass(frozen=True)
class Evaluation:
    """Coverage, accuracy where confident, and accuracy over all photos."""

    classes: list[str]
    outcomes: list[PhotoOutcome]

    @property
    def coverage(self) -> float:
        return _share(o.answer is not None for o in self.outcomes)

    @property
    def confident_accuracy(self) -> float:
        return _share(o.answer == o.truth for o in self.outcomes if o.answer is not None)

    @property
    def end_to_end_accuracy(self) -> float:
        return _share(o.answer == o.truth for o in self.outcomes)

    @property
    def photos_in_training(self) -> int:
        """How many of the photos the model was trained on: figures on them overstate it."""
        return sum(o.in_training for o in self.outcomes)

    def per_person(self) -> dict[str, dict[str, float]]:
        figures = {}
        for person in sorted({o.truth for o in self.outcomes}):
            mine = Evaluation(self.classes, [o for o in self.outcomes if o.truth == person])
            figures[person] = {
                "photos": len(mine.outcomes),
                "coverage": mine.coverage,
                "confident_accuracy": mine.confident_accuracy,
                "end_to_end_accuracy": mine.end_to_end_accuracy,
            }
        return figures

    def confusion(self) -> tuple[list[str], list[str], np.ndarray]:
        """Rows: true person; columns: answer, with a last column "not sure"."""
        rows = sorted({o.truth for o in self.outcomes})
        columns = [*self.classes, "not sure"]
        matrix = np.zeros((len(rows), len(columns)), dtype=int)
        for o in self.outcomes:
            column = columns.index(o.answer) if o.answer in columns else len(columns) - 1
            matrix[rows.index(o.truth), column] += 1
        return rows, columns, matrix

    def as_json(self) -> dict:
        rows, columns, matrix = self.confusion()
        return {
            "photos": len(self.outcomes),
            "coverage": round(self.coverage, 4),
            "confident_accuracy": round(self.confident_accuracy, 4),
            "end_to_end_accuracy": round(self.end_to_end_accuracy, 4),
            "photos_in_training": self.photos_in_training,
            "per_person": self.per_person(),
            "confusion": {"rows": rows, "columns": columns, "matrix": matrix.tolist()},
            "errors": [{"file": printable_path(o.file), "error": o.error} for o in self.outcomes if o.error],
        }


def photo_answer(faces: list[FacePrediction]) -> str | None:
    """The person a photo shows: its largest clean face's, else its largest face's.

    A photo collected for one person may show others too; the largest face
    with both eyes visible is the one it is most likely about.
    """
    if not faces:
        return None
    clean = [f for f in faces if f.clean]
    return (clean or faces)[0].person


def labelled_photos(root: Path) -> list[tuple[str, Path]]:
    """(person, photo) for every image file of ``root``'s sub-folders, the folder name being the person."""
    return [
        (folder.name, path)
        for folder in sorted(p for p in Path(root).iterdir() if p.is_dir())
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]


def person_of_folder(folder: str, classes: list[str]) -> str:
    """The person a folder of photos is of, named as the model names them: ``lionel_messi`` is the
    model's "Lionel Messi" (as everywhere in the app), a person the model does not know keeps
    their folder's name made readable.

    >>> person_of_folder("lionel_messi", ["Lionel Messi", "Virat Kohli"]), person_of_folder("ann_lee", [])
    ('Lionel Messi', 'Ann Lee')
    """
    return next((name for name in classes if same_person(name, folder)), display_name(folder))


def evaluate_folder(
    root: Path, classifier: Classifier, progress: Callable[[int, int], None] | None = None
) -> Evaluation:
    files = labelled_photos(root)
    classes = list(classifier.bundle.classes)
    outcomes = []
    for done, (folder, path) in enumerate(files, start=1):
        outcomes.append(photo_outcome(classifier, person_of_folder(folder, classes), path))
        if progress:
            progress(done, len(files))
    return Evaluation(list(classifier.bundle.classes), outcomes)


def photo_outcome(classifier: Classifier, truth: str, path: Path) -> PhotoOutcome:
    """What ``classifier`` answers for one photo of ``truth``, and whether it was trained on it."""
    try:
        data = photo_file_bytes(
            path
        )  # read once: classified, and hashed to find it among the training photos
        faces = classifier.classify(data).faces
    except ImageError as exc:
        return PhotoOutcome(path, truth, None, str(exc))
    in_training = content_hash(data) in classifier.bundle.training_photos
    return PhotoOutcome(path, truth, photo_answer(faces), in_training=in_training)


def printable_path(path: Path) -> str:
    """The path as valid UTF-8 text: undecodable bytes of a file name become \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _share(flags) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0
