"""Meet the strangers: the faces a model calls "unknown person", grouped by who they look like.

Faces are grouped by their embedding (the engine's feature vector), with no
number of groups given in advance: two faces closer than ``distance`` are
linked, and the links are clustered. ``distance`` comes from the model:
``link_distance`` of its calibrated unknown-person distance
(``Gallery.threshold``: how far a known person's face may be from that
person's other faces). A face that fits no group (a group smaller than
``min_group`` faces, or one whose faces all come from a single photo: two
faces in one photo are two people) goes to "others", never forced into a
group. Results are deterministic.

Methods (``METHODS``), compared on the shared photos by ``bench/strangers.py``:
``chinese_whispers`` (dlib's graph clustering of those links, the default:
every one of the 10 pairs of strangers pure, none mixed, 9 of 10 with at least
0.80 of each stranger's unknown faces in one group, at ``LINK_FACTOR`` (0.85)
times the model's distance; 0.9 let two strangers merge once),
``dbscan`` (scikit-learn, eps = distance, min_samples = 2) and ``average``
(agglomerative, average linkage, cut at distance).

>>> import numpy as np
>>> vectors = np.array([[0.0, 0], [0.1, 0], [0.05, 0.05], [5, 5], [5.1, 5], [9, 9]])
>>> group_faces(vectors, 0.3, photos=["a", "b", "c", "d", "e", "f"])
[0, 0, 0, 1, 1, -1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .config import LINK_FACTOR

if TYPE_CHECKING:  # the Classify page imports this module before any model is loaded
    from .model import ModelBundle

OTHERS = -1
OTHERS_FOLDER = "others"
METHODS = ("chinese_whispers", "dbscan", "average")
DEFAULT_METHOD = "chinese_whispers"


def grouping_distance(bundle: ModelBundle) -> float | None:
    """The distance a model's unknown faces are grouped at: :func:`link_distance` of how far its
    known people's faces lie from their own others (``Gallery.threshold``); None for a model
    without embeddings, whose unknown faces are not grouped. The Strangers page, the Classify
    page's sorting and ``sort`` all group at it."""
    return None if bundle.gallery is None else link_distance(bundle.gallery.threshold)


def link_distance(model_distance: float) -> float:
    """The distance two faces are linked within, from the model's calibrated unknown-person one.

    >>> round(link_distance(0.6), 2)
    0.51
    """
    return LINK_FACTOR * float(model_distance)


@dataclass(frozen=True)
class UnknownFace:
    """One face the model could not name: the photo it is in, its number there (largest face
    first), and its embedding."""

    photo: str
    index: int
    vector: np.ndarray = field(repr=False, compare=False)


@dataclass
class Group:
    """Faces of one stranger (``name`` like ``group-01``), or the ``others`` that fit no group."""

    name: str
    faces: list[UnknownFace]

    @property
    def photos(self) -> list[str]:
        """The photos its faces are in, each once, in the order of the faces."""
        return list(dict.fromkeys(face.photo for face in self.faces))

    @property
    def others(self) -> bool:
        return self.name == OTHERS_FOLDER


def group_name(number: int, count: int) -> str:
    """``group-01`` ...: zero-padded to sort by name as by size (at least two digits).

    >>> group_name(1, 5), group_name(7, 120)
    ('group-01', 'group-007')
    """
    return f"group-{number:0{max(2, len(str(count)))}d}"


def group_faces(
    vectors: np.ndarray | Sequence[np.ndarray],
    distance: float,
    min_group: int = 2,
    photos: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
) -> list[int]:
    """A group label per face (0 the largest group, 1 the next ...), ``OTHERS`` (-1) for a face
    that fits no group.

    Faces closer than ``distance`` are linked; a group needs ``min_group`` faces, and, when
    ``photos`` (each face's photo) is given, faces from at least two photos.
    """
    if method not in METHODS:
        raise ValueError(f"unknown grouping method {method!r}; choose from {METHODS}")
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) == 0:
        return []
    vectors = vectors.reshape(len(vectors), -1)
    raw = _CLUSTER[method](vectors, float(distance))
    members: dict[int, list[int]] = {}
    for face, label in enumerate(raw):
        if label >= 0:
            members.setdefault(int(label), []).append(face)
    kept = [
        faces
        for faces in members.values()
        if len(faces) >= max(min_group, 1) and (photos is None or len({photos[i] for i in faces}) >= 2)
    ]
    kept.sort(key=lambda faces: (-len(faces), faces[0]))  # largest first; ties by first face
    labels = [OTHERS] * len(vectors)
    for number, faces in enumerate(kept):
        for face in faces:
            labels[face] = number
    return labels


def group_unknown(
    faces: Sequence[UnknownFace], distance: float, min_group: int = 2, method: str = DEFAULT_METHOD
) -> list[Group]:
    """The groups of ``faces`` (largest first, named ``group-01`` ...), then ``others`` if any."""
    if not faces:
        return []
    labels = group_faces(
        [face.vector for face in faces], distance, min_group, [face.photo for face in faces], method
    )
    count = max(labels) + 1
    groups = [Group(group_name(number + 1, count), []) for number in range(count)]
    others = Group(OTHERS_FOLDER, [])
    for face, label in zip(faces, labels, strict=True):
        (others if label == OTHERS else groups[label]).faces.append(face)
    return groups + ([others] if others.faces else [])


def _chinese_whispers(vectors: np.ndarray, distance: float) -> list[int]:
    import dlib
    from sklearn.metrics.pairwise import euclidean_distances  # here: the Classify page imports this module

    close = np.triu(euclidean_distances(vectors) < distance, k=1)
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(close), strict=True)]
    edges += [(i, i) for i in range(len(vectors))]  # every face a vertex, linked or not
    return [int(label) for label in dlib.chinese_whispers(edges)]


def _dbscan(vectors: np.ndarray, distance: float) -> list[int]:
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=distance, min_samples=2).fit(vectors).labels_.tolist()


def _average(vectors: np.ndarray, distance: float) -> list[int]:
    if len(vectors) < 2:
        return [0] * len(vectors)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, linkage="average")
    return model.fit(vectors).labels_.tolist()


_CLUSTER = {"chinese_whispers": _chinese_whispers, "dbscan": _dbscan, "average": _average}
