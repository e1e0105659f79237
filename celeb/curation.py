"""Flags that point at the face crops worth a second look before training.

Four signs of a bad crop, each cheap to compute for a few hundred crops:

- identity engines (embeddings): the face is far from the person's own other
  faces, or nearer to another known person's (a wrong person in the folder: a
  spouse in the crowd, a team-mate); distances decide, not the model agreeing
  with itself, and these crops are shown first;
- other engines: the active model names someone else, and is sure of it (a
  wrong person in the folder, or not a face at all);
- the face is tiny in its photo (blurry once enlarged to a crop);
- the crop nearly repeats an earlier one of the same person (the same photo
  twice at different sizes, or a pattern the face detector keeps firing on),
  which weighs it twice in training and leaks between training and test.

Nothing here changes the dataset: the flags only order and mark the crops
shown for curation.

>>> import numpy as np
>>> a = signature(np.full((64, 64, 3), 10, np.uint8))
>>> a.shape, a.dtype.name
((1024,), 'float32')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .config import (
    DISAGREE_PROBABILITY,
    DUPLICATE_SIMILARITY,
    MAX_DISTANCE_THRESHOLD,
    NEAREST_FACES,
    TINY_FACE_PIXELS,
)
from .engines import Engine, EngineUnavailable, get_engine
from .errors import CelebError, DatasetError
from .images import decode_png
from .manifest import KEPT, Crop
from .model import Gallery, ModelBundle
from .names import same_person
from .open_set import pairwise_distances

MODEL, TINY, DUPLICATE, DAMAGED = "model", "tiny", "duplicate", "damaged"
#: Far from the person's own faces (identity engines): shown before every other flag.
SOMEONE_ELSE = "someone else"
#: Each kind of flag in a few words, as a count says them ("2 tiny, 1 near-duplicate").
FLAG_NAMES = {
    SOMEONE_ELSE: "may be someone else",
    MODEL: "model disagrees",
    TINY: "tiny",
    DUPLICATE: "near-duplicate",
    DAMAGED: "damaged",
}


@dataclass(frozen=True)
class Flag:
    """Why a crop deserves a look: ``kind`` is one of the constants above."""

    kind: str
    message: str
    other: str = ""  # the crop id it repeats, for a duplicate


@dataclass(frozen=True)
class FlagSettings:
    """What the flags point at; the defaults (celeb.config, with what was measured) are where the
    Dataset page's "Flag settings" start."""

    tiny_pixels: int = TINY_FACE_PIXELS
    disagree_probability: float = DISAGREE_PROBABILITY
    duplicate_similarity: float = DUPLICATE_SIMILARITY


def flag_crops(
    crops: Sequence[Crop],
    bundle: ModelBundle | None = None,
    settings: FlagSettings | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[Flag]]:
    """The flags of each crop of one person (crop id -> flags; unflagged crops are left out).

    ``crops`` are one person's crops, in the store's order (oldest photo
    first): of two near-duplicates, the later one is flagged. Model flags need
    a ``bundle`` that knows the person; without one they are skipped.
    """
    settings = settings or FlagSettings()
    flags: dict[str, list[Flag]] = {}

    def add(crop_id: str, flag: Flag) -> None:
        flags.setdefault(crop_id, []).append(flag)

    images: dict[str, np.ndarray] = {}
    for done, crop in enumerate(crops, start=1):
        try:
            images[crop.record.id] = decode_png(crop.path)
        except (OSError, DatasetError):
            add(crop.record.id, Flag(DAMAGED, "the crop file is missing or damaged"))
        if progress:
            progress(done, len(crops))

    for crop in crops:
        width = crop.record.box[2]
        if width < settings.tiny_pixels:
            add(crop.record.id, Flag(TINY, f"tiny face: {width} px wide in its photo"))

    readable = [crop for crop in crops if crop.record.id in images]
    for crop_id, flag in _duplicates(readable, images, settings.duplicate_similarity).items():
        add(crop_id, flag)

    for crop_id, flag in _unlike_their_own(readable, images, bundle).items():
        add(crop_id, flag)
    if bundle is not None and bundle.gallery is None:  # a model that names by probability
        for crop_id, flag in _disagreements(readable, images, bundle, settings.disagree_probability).items():
            add(crop_id, flag)
    return flags


def model_knows(bundle: ModelBundle | None, person: str) -> bool:
    """Whether the model can name ``person`` (so that its disagreement means something)."""
    return bundle is not None and any(same_person(person, known) for known in bundle.classes)


def flagged_first(crops: Sequence[Crop], flags: dict[str, list[Flag]]) -> list[Crop]:
    """The crops with flagged ones first (someone else first of all, then most flags first),
    otherwise in their order."""
    order = {crop.record.id: index for index, crop in enumerate(crops)}

    def rank(crop: Crop) -> tuple[bool, int, int]:
        found = flags.get(crop.record.id, [])
        return (not any(f.kind == SOMEONE_ELSE for f in found), -len(found), order[crop.record.id])

    return sorted(crops, key=rank)


def signature(rgb: np.ndarray, size: int = 32) -> np.ndarray:
    """A crop's gray pixels at ``size`` x ``size``, centred and of unit length."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1)
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return small / norm if norm > 1e-6 else small


def _duplicates(crops: Sequence[Crop], images: dict[str, np.ndarray], threshold: float) -> dict[str, Flag]:
    if len(crops) < 2:
        return {}
    signatures = np.stack([signature(images[crop.record.id]) for crop in crops])
    similarity = signatures @ signatures.T
    # Compare with earlier kept crops only (a rejected one is out of training
    # already), and not with crops already flagged as copies.
    candidate = np.array([crop.record.status == KEPT for crop in crops])
    found: dict[str, Flag] = {}
    for j in range(1, len(crops)):
        scores = np.where(candidate[:j], similarity[:j, j], -np.inf)
        best = int(np.argmax(scores))
        if scores[best] < threshold:
            continue
        other = crops[best]
        where = "the same photo" if other.record.photo == crops[j].record.photo else other.photo_filename
        found[crops[j].record.id] = Flag(
            DUPLICATE,
            f"near-duplicate of a crop from {where} (similarity {scores[best]:.3f})",
            other=other.record.id,
        )
        candidate[j] = False
    return found


def _disagreements(
    crops: Sequence[Crop], images: dict[str, np.ndarray], bundle: ModelBundle, level: float
) -> dict[str, Flag]:
    # The model judges only crops its own engine made (another engine's features mean nothing to it).
    crops = [c for c in crops if model_knows(bundle, c.person) and c.record.engine == bundle.engine]
    if not crops:
        return {}
    try:
        engine = bundle.make_engine()
    except EngineUnavailable:
        return {}
    features = np.stack([engine.features(images[crop.record.id]) for crop in crops])
    probabilities = bundle.predict_proba(features)
    found: dict[str, Flag] = {}
    for crop, row in zip(crops, probabilities, strict=True):
        best = int(np.argmax(row))
        predicted, probability = bundle.classes[best], float(row[best])
        if not same_person(predicted, crop.person) and probability >= level:
            found[crop.record.id] = Flag(MODEL, f"the model says {predicted} ({probability:.0%})")
    return found


def _comparable_gallery(bundle: ModelBundle | None, engine: Engine) -> Gallery | None:
    """The model's training faces where they are described as ``engine`` describes crops today;
    None for a model whose faces were described otherwise (made before the mirror image was
    averaged in): distances between the two would mislead until the owner retrains."""
    if bundle is None or bundle.gallery is None or bundle.engine != engine.name:
        return None
    try:
        same = bundle.make_engine().feature_key() == engine.feature_key()
    except (EngineUnavailable, CelebError):
        return None
    return bundle.gallery if same else None


def _unlike_their_own(
    crops: Sequence[Crop], images: dict[str, np.ndarray], bundle: ModelBundle | None
) -> dict[str, Flag]:
    """Identity engines' crops unlike the person's kept faces in other photos: farther than dlib's
    same-person limit from most of them (the median: a few odd faces of the person, or a few
    crops of one wrong person, cannot hide it), or nearer to another person the model knows."""
    found: dict[str, Flag] = {}
    for name in sorted({crop.record.engine for crop in crops}):
        try:
            engine = get_engine(name)
        except (EngineUnavailable, KeyError, ValueError):
            continue
        if not engine.open_set:
            continue
        mine = [crop for crop in crops if crop.record.engine == name]
        vectors = np.stack([engine.features(images[crop.record.id]) for crop in mine])
        kept = np.array([crop.record.status == KEPT for crop in mine])
        photos = np.array([crop.record.photo for crop in mine])
        gallery = _comparable_gallery(bundle, engine)
        distances = pairwise_distances(vectors, vectors)
        others = _other_people(gallery, mine[0].person, vectors) if gallery is not None else None
        for index, crop in enumerate(mine):
            theirs = np.sort(distances[index, kept & (photos != crop.record.photo)])
            if len(theirs) < NEAREST_FACES + 1:
                continue  # too few other photos to say what this person looks like
            typical = float(np.median(theirs))
            if typical > MAX_DISTANCE_THRESHOLD:
                found[crop.record.id] = Flag(
                    SOMEONE_ELSE,
                    f"may be someone else: most of this person's other faces are farther than "
                    f"{MAX_DISTANCE_THRESHOLD:.2f} from it, the limit for one person (median {typical:.2f})",
                )
                continue
            nearest = float(theirs[:NEAREST_FACES].mean())
            if others is not None and others[index] and others[index][1] < nearest:
                person, distance = others[index]
                found[crop.record.id] = Flag(
                    SOMEONE_ELSE,
                    f"may be someone else: nearer to {person} ({distance:.2f}) than to this person's "
                    f"other faces ({nearest:.2f})",
                )
    return found


def _other_people(gallery, person: str, vectors: np.ndarray) -> list[tuple[str, float] | None]:
    """For each vector, the nearest person of the model other than ``person``, with the distance."""
    nearest = []
    for row in gallery.nearest_per_person(vectors):
        others = [(name, distance) for name, distance in row.items() if not same_person(name, person)]
        nearest.append(others[0] if others else None)
    return nearest
