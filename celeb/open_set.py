"""Who a face is, or that it is nobody the model knows: one fitted rule that every screen asks.

A face is compared with each known person's training faces: its distance to
that person is the mean of its distances to their ``NEAREST_FACES`` nearest
faces (one odd training face, a wrong person kept in the dataset, then does not
decide alone). It gets the nearest person's name only when both hold:

- that person is near enough: at most ``max_distance``;
- no other person is nearly as near: the next person is at least
  ``min_margin`` farther. Different people's faces come within 0.55-0.60 of
  each other with dlib's embedding, so distance alone lets a stranger who
  sits between two known people through.

Both numbers are fitted on the training faces (:meth:`OpenSetRule.fit`), from
both sides of the question:

- known people: each face against the others with its own photo left out,
  which is how a new photo of a known person looks to the model;
- strangers: each person left out in turn, their faces against everyone else's,
  which is how a person the model never saw looks to it.

Each rate is the mean over people, so a person with six photos counts as much
as one with five hundred. For each strictness (``STRICTNESS``: how many times
worse a stranger given a name is than a known person left unknown) the fit
keeps the pair that loses least; the model's owner picks the strictness, and
it is saved with the model.

In a photo with several faces a person is named once at most: the face
nearest to them gets the name, the others are unknown (a face whose nearest
person is taken has, by the margin rule, no other person that fits). A face
much smaller than the photo's largest (the crowd behind a group,
``GROUP_FACE_SHARE``) must be ``crowd_distance_cut`` nearer than the rule's
distance: the people around a star are often the strangers most like them.

>>> rule = OpenSetRule(max_distance=0.5, min_margin=0.05)
>>> rule.name_faces([{"Ann": 0.30, "Bob": 0.52}, {"Ann": 0.40, "Bob": 0.70}, {"Bob": 0.45, "Ann": 0.48}])
['Ann', None, None]
>>> rule.name_faces([{"Ann": 0.30, "Bob": 0.60}, {"Bob": 0.49, "Ann": 0.70}], crowd_faces([100, 40]))
['Ann', None]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .config import (
    CROWD_DISTANCE_CUT,
    DEFAULT_STRICTNESS,
    FALLBACK_MARGIN,
    GROUP_FACE_SHARE,
    MAX_DISTANCE_THRESHOLD,
    NEAREST_FACES,
    SAME_PERSON_QUANTILE,
    STRICTNESS,
)

#: The grid the fit searches: distances and margins, in steps of 0.005.
_DISTANCES = np.round(np.arange(0.30, MAX_DISTANCE_THRESHOLD + 1e-9, 0.005), 3)
_MARGINS = np.round(np.arange(0.0, 0.2001, 0.005), 3)


@dataclass(frozen=True)
class OperatingPoint:
    """One setting of the rule and what it did on the training faces (held out as above)."""

    strictness: str
    max_distance: float
    min_margin: float
    #: Of people the model never saw, the share of faces answered "unknown" (mean over people).
    strangers_unknown: float | None
    #: Of known people's faces from other photos, the share named right (mean over people).
    known_named_right: float | None


@dataclass(frozen=True)
class OpenSetRule:
    """Names a face, or answers unknown; fitted with :meth:`fit`, saved in the model."""

    max_distance: float
    min_margin: float
    strictness: str = DEFAULT_STRICTNESS
    #: The fitted points of every strictness, for the owner to compare and choose from.
    points: tuple[OperatingPoint, ...] = ()
    #: How far a known person's face may be from their own other faces (a high quantile of those
    #: distances): the scale strangers' faces are grouped at (``celeb.strangers``).
    same_person_distance: float = MAX_DISTANCE_THRESHOLD
    #: How much nearer than ``max_distance`` a face of the crowd must be (``crowd_faces``).
    crowd_distance_cut: float = CROWD_DISTANCE_CUT

    # -- fitting

    @classmethod
    def fit(
        cls,
        vectors: np.ndarray,
        labels: Sequence[str],
        groups: Sequence[str] | None = None,
        strictness: str = DEFAULT_STRICTNESS,
    ) -> OpenSetRule:
        """The rule for the faces ``vectors`` of the people ``labels`` (``groups``: each face's photo,
        so that faces of one photo never judge each other; default: every face its own photo)."""
        if strictness not in STRICTNESS:
            raise ValueError(f"strictness must be one of {', '.join(STRICTNESS)}")
        table = _DistanceTable.of(np.asarray(vectors, dtype=np.float32), labels, groups)
        same = table.own[np.isfinite(table.own)]
        same_person = (
            min(float(np.quantile(same, SAME_PERSON_QUANTILE)), MAX_DISTANCE_THRESHOLD)
            if len(same)
            else MAX_DISTANCE_THRESHOLD
        )
        points = table.operating_points() if table.can_fit else ()
        if not points:
            # Too few people or photos to measure strangers: dlib's own limit, a margin, say so.
            points = tuple(
                OperatingPoint(name, same_person, FALLBACK_MARGIN, None, None) for name in STRICTNESS
            )
        chosen = next(point for point in points if point.strictness == strictness)
        return cls(chosen.max_distance, chosen.min_margin, strictness, points, same_person)

    def with_strictness(self, strictness: str) -> OpenSetRule:
        """The same rule at another of its fitted points."""
        point = next((p for p in self.points if p.strictness == strictness), None)
        if point is None:
            raise ValueError(
                f"no fitted point {strictness!r}; there are {[p.strictness for p in self.points]}"
            )
        return replace(
            self, max_distance=point.max_distance, min_margin=point.min_margin, strictness=strictness
        )

    def with_max_distance(self, distance: float) -> OpenSetRule:
        """The same rule with the distance set by hand (the margin kept)."""
        return replace(self, max_distance=float(distance), strictness="custom")

    # -- deciding

    def name_faces(
        self, distances: Sequence[Mapping[str, float]], crowd: Sequence[bool] | None = None
    ) -> list[str | None]:
        """Who each face is (None: unknown), from each face's distance to every known person and,
        where given, which faces are the crowd's (:func:`crowd_faces`).

        A person is given to one face at most: the nearest of the faces that pass the rule.
        """
        if crowd is None:
            crowd = [False] * len(distances)
        candidates = []
        for index, (row, behind) in enumerate(zip(distances, crowd, strict=True)):
            person = self.name_one(row, crowd=behind)
            if person is not None:
                candidates.append((row[person], index, person))
        names: list[str | None] = [None] * len(distances)
        taken: set[str] = set()
        for _, index, person in sorted(candidates):
            if person not in taken:
                names[index] = person
                taken.add(person)
        return names

    def name_one(self, distances: Mapping[str, float], crowd: bool = False) -> str | None:
        """The face's person alone (no other face of its photo considered), or None; ``crowd``: the
        face is one of the crowd behind its photo's group."""
        if not distances:
            return None
        ranked = sorted(distances.items(), key=lambda item: item[1])
        person, nearest = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else np.inf
        if nearest <= self.distance_for(crowd) and runner_up - nearest >= self.min_margin:
            return person
        return None

    def distance_for(self, crowd: bool) -> float:
        """How near a face must be to be named: nearer still for a face of the crowd."""
        return self.max_distance - self.crowd_distance_cut if crowd else self.max_distance

    def why_unknown(self, distances: Mapping[str, float], name: str | None, crowd: bool = False) -> str:
        """Why a face with these distances got no name ("" when it got ``name``), for the user.

        >>> OpenSetRule(0.5, 0.05).why_unknown({"Ann": 0.45, "Bob": 0.47}, None)
        'as near to Bob (0.47) as to Ann (0.45): too close to call'
        >>> print(OpenSetRule(0.5, 0.05).why_unknown({"Ann": 0.48, "Bob": 0.7}, None, crowd=True))
        a small face behind the photo's main ones, named only within 0.47 (nearest: Ann, 0.48)
        """
        if name is not None:
            return ""
        if not distances:
            return "the model knows nobody"
        ranked = sorted(distances.items(), key=lambda item: item[1])
        person, nearest = ranked[0]
        if crowd and self.distance_for(crowd) < nearest <= self.max_distance:
            return (
                f"a small face behind the photo's main ones, named only within "
                f"{self.distance_for(crowd):.3g} (nearest: {person}, {nearest:.2f})"
            )
        if nearest > self.max_distance:
            return (
                f"farther than {self.max_distance:.3g} from every known person "
                f"(nearest: {person}, {nearest:.2f})"
            )
        if len(ranked) > 1 and ranked[1][1] - nearest < self.min_margin:
            other, far = ranked[1]
            return f"as near to {other} ({far:.2f}) as to {person} ({nearest:.2f}): too close to call"
        return f"{person} is named on another face of this photo, nearer to them"

    # -- saving

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, values: Mapping) -> OpenSetRule:
        points = tuple(OperatingPoint(**point) for point in values.get("points", ()))
        return cls(**{**values, "points": points})


def point_line(point: OperatingPoint) -> str:
    """One fitted setting in a line of text.

    >>> print(point_line(OperatingPoint("strict", 0.45, 0.06, 0.991, 0.9)).replace("; ", "\\n"))
    strict: within 0.450 and 0.060 nearer than the next person
    strangers answered unknown 0.991, known people named right 0.900
    """
    figures = (
        "not measured (too few people or photos)"
        if point.strangers_unknown is None or point.known_named_right is None
        else f"strangers answered unknown {point.strangers_unknown:.3f}, "
        f"known people named right {point.known_named_right:.3f}"
    )
    return (
        f"{point.strictness}: within {point.max_distance:.3f} and {point.min_margin:.3f} nearer than the "
        f"next person; {figures}"
    )


def crowd_faces(sizes: Sequence[float]) -> list[bool]:
    """Which of one photo's faces are the crowd's: smaller than ``GROUP_FACE_SHARE`` of its largest
    (``sizes``: each face's :attr:`~celeb.faces.Box.side`, so that a face the photo's edge cuts is
    not taken for a small one).

    >>> crowd_faces([120, 100, 50])
    [False, False, True]
    """
    largest = max(sizes, default=0)
    return [size < GROUP_FACE_SHARE * largest for size in sizes]


def name_once_per_photo(best: Sequence[tuple[str | None, float]]) -> list[str | None]:
    """Each face's (person, score) with a person kept only on the face that scores highest for
    them; the other faces get None. For models that name by probability (no distances).

    >>> name_once_per_photo([("Ann", 0.6), ("Ann", 0.9), ("Bob", 0.8), (None, 0.3)])
    [None, 'Ann', 'Bob', None]
    """
    order = sorted(range(len(best)), key=lambda i: -best[i][1])
    names: list[str | None] = [None] * len(best)
    taken: set[str] = set()
    for index in order:
        person = best[index][0]
        if person is not None and person not in taken:
            names[index] = person
            taken.add(person)
    return names


def index_people(labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The people of ``labels`` in name order, and each label's index among them.

    >>> people, person_of = index_people(["Bo", "Ann", "Bo"])
    >>> people, person_of.tolist()
    (['Ann', 'Bo'], [1, 0, 1])
    """
    names = [str(label) for label in labels]
    people = sorted(set(names))
    index = {person: number for number, person in enumerate(people)}
    return people, np.asarray([index[name] for name in names], dtype=int)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and of ``b`` (float32)."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    squares = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squares, 0))


def distances_to_people(distances: np.ndarray, person_of: np.ndarray, people: int) -> np.ndarray:
    """From faces' distances to every training face (rows; inf: not to be used), each face's
    distance to each person: the mean of its ``NEAREST_FACES`` smallest to that person's faces
    (fewer where the person has fewer; inf where none).

    >>> d = np.array([[0.1, 0.3, 0.9, np.inf]])
    >>> [[round(float(x), 2) for x in row] for row in distances_to_people(d, np.array([0, 0, 1, 1]), 2)]
    [[0.2, 0.9]]
    """
    result = np.full((len(distances), people), np.inf, dtype=np.float32)
    for person in range(people):
        columns = distances[:, person_of == person]
        if columns.shape[1] == 0:
            continue
        count = min(NEAREST_FACES, columns.shape[1])
        nearest = np.sort(columns, axis=1)[:, :count] if count > 1 else columns.min(axis=1, keepdims=True)
        finite = np.isfinite(nearest)
        used = finite.sum(axis=1)
        total = np.where(finite, nearest, 0).sum(axis=1)
        result[:, person] = np.where(used > 0, total / np.maximum(used, 1), np.inf)
    return result


@dataclass
class _DistanceTable:
    """Each training face's distance to every person's nearest face in another photo."""

    people: list[str]
    person_of: np.ndarray  # (n,) index into people
    nearest: np.ndarray  # (n, people) distance to that person's nearest face in another photo
    own: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        rows = np.arange(len(self.person_of))
        self.own = self.nearest[rows, self.person_of] if len(rows) else np.zeros(0)

    @classmethod
    def of(cls, vectors: np.ndarray, labels: Sequence[str], groups: Sequence[str] | None) -> _DistanceTable:
        people, person_of = index_people(labels)
        groups = np.asarray(groups if groups is not None else [str(i) for i in range(len(labels))])
        nearest = np.full((len(person_of), len(people)), np.inf, dtype=np.float32)
        for start in range(0, len(person_of), 1024):  # bounded memory at thousands of faces
            block = slice(start, start + 1024)
            distances = pairwise_distances(vectors[block], vectors)
            distances[groups[block, None] == groups[None, :]] = np.inf  # its own photo, itself too
            nearest[block] = distances_to_people(distances, person_of, len(people))
        return cls(people, person_of, nearest)

    @property
    def can_fit(self) -> bool:
        # Strangers need a person left out and one left in; known faces, a second photo each.
        return len(self.people) >= 2 and np.isfinite(self.own).sum() >= 2

    def operating_points(self) -> tuple[OperatingPoint, ...]:
        known = self._known_rates()
        strangers = self._stranger_rates()
        points = []
        for name, cost in STRICTNESS.items():
            # What is lost: known faces not named right, and strangers named, each `cost` times.
            # Among equals the fewest strangers named, and of those the middle one (in distance,
            # then margin): the grid's edges are the settings the training faces say least about.
            score = known - cost * strangers
            best = np.flatnonzero(score >= score.max() - 1e-9)
            best = best[strangers[best] <= strangers[best].min() + 1e-9]
            ordered = sorted(
                best, key=lambda i: (_DISTANCES[i // len(_MARGINS)], _MARGINS[i % len(_MARGINS)])
            )
            choice = ordered[len(ordered) // 2]
            d, m = divmod(int(choice), len(_MARGINS))
            points.append(
                OperatingPoint(
                    name,
                    float(_DISTANCES[d]),
                    float(_MARGINS[m]),
                    round(1.0 - float(strangers[choice]), 4),
                    round(float(known[choice]), 4),
                )
            )
        return tuple(points)

    def _known_rates(self) -> np.ndarray:
        """For every grid point: the share of known faces named right, mean over people."""
        own = self.own
        others = self.nearest.copy()
        others[np.arange(len(own)), self.person_of] = np.inf
        rival = others.min(axis=1)
        has_own = np.isfinite(own)
        right = (own[:, None, None] <= _DISTANCES[None, :, None]) & (
            (rival - own)[:, None, None] >= _MARGINS[None, None, :]
        )
        return self._mean_over_people(right[has_own], self.person_of[has_own])

    def _stranger_rates(self) -> np.ndarray:
        """For every grid point: the share of a left-out person's faces that get a name, mean over
        people."""
        others = self.nearest.copy()
        others[np.arange(len(self.own)), self.person_of] = np.inf  # the person is left out
        ranked = np.sort(others, axis=1)
        first = ranked[:, 0]
        second = ranked[:, 1] if ranked.shape[1] > 1 else np.full(len(first), np.inf)
        named = (first[:, None, None] <= _DISTANCES[None, :, None]) & (
            (second - first)[:, None, None] >= _MARGINS[None, None, :]
        )
        return self._mean_over_people(named, self.person_of)

    def _mean_over_people(self, hits: np.ndarray, person_of: np.ndarray) -> np.ndarray:
        rates = [hits[person_of == p].mean(axis=0) for p in range(len(self.people)) if (person_of == p).any()]
        return np.mean(rates, axis=0).reshape(-1)
