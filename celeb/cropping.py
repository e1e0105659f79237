"""Finding and cropping faces in a dataset's photos: a thread pool over the photos not searched
yet, progress committed to the manifest as it goes, and, for identity engines, in each photo with
several faces the one most like the person's other photos kept (:func:`faces_most_like`)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .classify import describe_faces
from .config import DECODE_MAX_SIDE
from .engines import DEFAULT_ENGINE, LEGACY_ENGINE, Engine
from .errors import DatasetError, ImageError
from .faces import Box, Face
from .feature_cache import FeatureCache
from .images import decode_png, encode_png, read_image
from .manifest import KEPT, REJECTED, CropRecord, PhotoRecord, content_hash, person_named
from .storage import StagedFile

if TYPE_CHECKING:
    from .dataset import DatasetStore

#: How often a cropping run records its progress in the manifest: at least this often apart, and
#: at least COMMIT_SHARE_OF_TIME times the last commit's own time. A commit is one journal line
#: (celeb.manifest) but now and then a whole new snapshot, and it holds the lock other writers wait on.
COMMIT_SECONDS = 1.0
COMMIT_SHARE_OF_TIME = 20
#: A face is compared with this many of its person's faces from other photos (see faces_most_like).
IDENTITY_NEIGHBOURS = 3
SMALLER_FACE = "smaller face in a photo with several faces"
LESS_LIKE = "another face in this photo looks more like this person's other photos"


@dataclass(frozen=True)
class CropReport:
    photos: int
    faces: int
    clean_faces: int
    kept: int


def find_faces(
    store: DatasetStore,
    names: list[str] | None = None,
    *,
    engine: str = DEFAULT_ENGINE,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> CropReport:
    """Detect and crop faces, with ``engine``, in every photo it has not searched yet.

    Photos are processed outside the lock and committed about every
    second: an interrupted run keeps what it committed, and a crop the
    user rejected never comes back, since a processed photo is never redone.
    """
    store.require_writable()
    finder = store.engine(engine)
    people = store.records()
    wanted = {person_named(people, n).slug for n in names} if names else set(people)
    todo = [
        (slug, photo)
        for slug, person in people.items()
        if slug in wanted
        for photo in person.photos.values()
        if engine not in photo.searched
    ]
    faces = clean = 0
    batch: list[SearchedPhoto] = []
    last_commit, commit_cost = time.monotonic(), 0.0
    workers = workers or min(4, os.cpu_count() or 1)
    # Identity engines describe each face as it is cropped: the cleaning
    # below needs it, and training later finds it cached.
    cache = store.feature_cache(finder) if finder.open_set else None
    touched: set[str] = set()  # people with committed photos
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        crops = pool.map(lambda job: _crop_photo(store, finder, job, describe=cache is not None), todo)
        for done, searched in enumerate(crops, start=1):
            batch.append(searched)
            since = time.monotonic() - last_commit
            if done == len(todo) or since > max(COMMIT_SECONDS, COMMIT_SHARE_OF_TIME * commit_cost):
                # Rewriting the manifest per photo would cost more than the detection.
                commit_started = time.monotonic()
                committed = _commit_crops(store, finder.name, batch)
                commit_cost = time.monotonic() - commit_started
                if cache is not None:
                    vectors = {crop_id: v for s in batch for crop_id, v in s.vectors.items()}
                    for record in committed:
                        cache.put(record.id, vectors[record.id])
                touched |= {s.slug for s in batch}
                faces += len(committed)
                clean += sum(r.clean for r in committed)
                batch, last_commit = [], time.monotonic()
            if progress:
                progress(done, len(todo))
    except BaseException:
        # Interrupted (a page's rerun, Ctrl-C): stop at once; what was committed stays,
        # with its faces chosen as usual, and the rest is searched next time.
        pool.shutdown(wait=False, cancel_futures=True)
        for searched in batch:
            searched.discard()
        if cache is not None and touched:
            with contextlib.suppress(Exception):
                _choose_faces_by_identity(store, finder, touched, cache)
        raise
    pool.shutdown()
    if cache is not None:
        _choose_faces_by_identity(store, finder, touched, cache)
    searched_now = {photo.sha for _, photo in todo}
    kept = sum(
        crop.status == KEPT and crop.engine == finder.name and crop.photo in searched_now
        for person in store.records().values()
        for crop in person.crops.values()
    )
    return CropReport(photos=len(todo), faces=faces, clean_faces=clean, kept=kept)


def _choose_faces_by_identity(
    store: DatasetStore, engine: Engine, slugs: set[str], cache: FeatureCache
) -> None:
    """In each photo with several faces, keep the one most like the person's other photos.

    Only crops whose status is still automatic cleaning's are changed;
    what the user chose stays.
    """
    people = store.records()
    decisions: dict[str, tuple[str, str]] = {}
    for slug in slugs:
        person = people.get(slug)
        if person is None:
            continue
        by_photo: dict[str, list[CropRecord]] = {}
        for crop in sorted(person.crops.values(), key=lambda c: c.rank):
            # A face the user rejected is not this person's look: leave it out entirely.
            if crop.engine == engine.name and (crop.auto or crop.status == KEPT):
                by_photo.setdefault(crop.photo, []).append(crop)
        user_chose = {c.photo for c in person.crops.values() if c.engine == engine.name and not c.auto}
        if not any(len(crops) > 1 for crops in by_photo.values()):
            continue
        groups = list(by_photo.values())
        embeddings = [np.stack([_vector(store, engine, cache, slug, c) for c in crops]) for crops in groups]
        for crops, choice in zip(groups, faces_most_like(embeddings), strict=True):
            if len(crops) < 2 or crops[0].photo in user_chose:
                continue
            for index, crop in enumerate(crops):
                reason = "" if index == choice else (SMALLER_FACE if choice == 0 else LESS_LIKE)
                decisions[crop.id] = (KEPT if index == choice else REJECTED, reason)
    store.save_feature_cache(cache, keep=set(cache.entries))
    if not decisions:
        return
    with store.editing() as people:
        for person in people.values():
            for crop_id in decisions.keys() & person.crops.keys():
                crop = person.crops[crop_id]
                if crop.auto:  # the user may have chosen meanwhile, in another tab
                    crop.status, crop.reason = decisions[crop_id]


def _vector(
    store: DatasetStore, engine: Engine, cache: FeatureCache, slug: str, crop: CropRecord
) -> np.ndarray:
    """A crop's feature vector, from the cache or computed (and cached) now."""
    vectors = cache.get(crop.id)
    if vectors is None:
        vectors = engine.features(decode_png(store.crop_file(slug, crop.id)))[None]
        cache.put(crop.id, vectors)
    return vectors[0]


@dataclass
class SearchedPhoto:
    """A photo searched by a cropping run, not yet recorded: its crops' records, their files
    staged under temporary names, and (identity engines) their feature vectors."""

    slug: str
    photo: PhotoRecord
    records: list[CropRecord] = field(default_factory=list)
    files: dict[str, StagedFile] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def discard(self) -> None:
        for staged in self.files.values():
            staged.discard()


def _crop_photo(
    store: DatasetStore, engine: Engine, job: tuple[str, PhotoRecord], describe: bool = False
) -> SearchedPhoto:
    """Find a photo's clean faces and stage their crop files (put in place when recorded).

    With ``describe``, also the crops' feature vectors (as FeatureCache keeps them), by
    :func:`celeb.classify.describe_faces` as classifying describes a photo's faces.
    """
    slug, photo = job
    searched = SearchedPhoto(slug, photo)
    try:
        image = read_image(store.root / photo.stored, max_side=DECODE_MAX_SIDE)
    except (ImageError, OSError):
        return searched
    clean = [face for face in engine.detect(image.rgb) if face.eyes_found]
    found = describe_faces(engine, image.rgb, clean, mirrored=True, crops_only=not describe)
    # Crop ids of the classic engine keep their old form, so older datasets stay valid; other
    # engines' carry their whole name, so that no two engines' ids can be the same.
    prefix = "" if engine.name == LEGACY_ENGINE else f"{engine.name}-"
    for rank, one in enumerate(found):
        face, crop_id = one.face, f"{photo.sha[:16]}_{prefix}{rank}"
        searched.files[crop_id] = store.stage_file(store.crop_key(slug, crop_id), encode_png(one.crop))
        if describe:
            searched.vectors[crop_id] = one.views
        record = CropRecord(
            id=crop_id,
            photo=photo.sha,
            box=face.box.scaled(image.scale).as_list(),
            clean=face.eyes_found,
            rank=rank,
            engine=engine.name,
        )
        if rank > 0:
            # Automatic cleaning: in a group photo the largest face is the
            # person the photo was collected for; the others are likely not.
            record.status, record.reason = REJECTED, SMALLER_FACE
        searched.records.append(record)
    return searched


def _commit_crops(store: DatasetStore, engine: str, batch: list[SearchedPhoto]) -> list[CropRecord]:
    """Record searched photos and put their crop files in place; returns the crops recorded.

    A photo deleted or searched by someone else meanwhile (another tab, or the owner choosing one
    of its faces on the Strangers page) keeps what they recorded: its staged files are dropped
    unseen, so a crop file always belongs to its record.
    """
    committed = []
    with store.editing() as people:
        for searched in batch:
            person = people.get(searched.slug)
            current = person.photos.get(searched.photo.sha) if person else None
            if current is None or engine in current.searched:
                searched.discard()
                continue
            for staged in searched.files.values():
                staged.commit()
            current.searched.append(engine)
            current.faces_found[engine] = len(searched.records)
            for record in searched.records:
                person.crops[record.id] = record
            committed += searched.records
    return committed


def faces_most_like(photos: list[np.ndarray]) -> list[int]:
    """For each of one person's photos, the face most like that person's other photos.

    ``photos`` holds, per photo, the identity embeddings of its faces (rows,
    largest first). The person's look comes from their photos with a single
    face (collected for them, so the face is theirs), or, with fewer than
    three of those, from every photo's largest face. A face scores its mean
    distance to its IDENTITY_NEIGHBOURS nearest faces of that look taken from
    other photos; the lowest score wins. With no look to compare with, the
    largest face (0) wins, as for the classic engine.

    >>> ann = np.array([1.0, 0.0])
    >>> photos = [ann[None], ann[None] + 0.01, ann[None] - 0.01, np.array([[0.0, 1.0], [0.99, 0.0]])]
    >>> faces_most_like(photos)
    [0, 0, 0, 1]
    """
    singles = [i for i, faces in enumerate(photos) if len(faces) == 1]
    sources = singles if len(singles) >= 3 else [i for i, faces in enumerate(photos) if len(faces)]
    choices = []
    for index, faces in enumerate(photos):
        others = [photos[i][0] for i in sources if i != index]
        if len(faces) < 2 or not others:
            choices.append(0)
            continue
        look = np.stack(others)
        scores = [
            float(np.sort(np.linalg.norm(look - face, axis=1))[:IDENTITY_NEIGHBOURS].mean()) for face in faces
        ]
        choices.append(int(np.argmin(scores)))
    return choices


def _overlap_share(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes.

    >>> _overlap_share((0, 0, 10, 10), (5, 0, 10, 10))
    0.3333333333333333
    """
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - w * h
    return w * h / union if union > 0 else 0.0


def add_chosen_face(
    store: DatasetStore, name: str, data: bytes, filename: str, box: Sequence[int], engine: str
) -> str:
    """Add a photo to ``name`` (if not there yet) with the face at ``box`` (x, y, w, h in the photo
    as stored) as a kept crop the user chose (``auto=False``), cropped by ``engine``; returns its
    crop id.

    The photo is marked searched by ``engine``, so Find faces does not redo it and the photo's
    other faces (other people) stay out of this person's crops. A face of the photo that ``engine``
    already cropped at that place is kept instead of cropped again. DatasetError when the photo
    belongs to another person or cannot be read.
    """
    store.require_writable()
    finder = store.engine(engine)
    sha = content_hash(data)
    owner = next((p for p in store.records().values() if sha in p.photos), None)
    if owner is not None and owner.slug != person_named(store.records(), name).slug:
        raise DatasetError(f"this photo is already in the dataset as a photo of {owner.name}")
    if owner is None:
        report = store.add_photo(name, data, filename)
        if report.skipped:
            raise DatasetError(report.skipped[0][1])
    try:
        image = read_image(data, max_side=DECODE_MAX_SIDE)
    except ImageError as exc:
        raise DatasetError(str(exc)) from exc
    wanted = [float(v) for v in box]
    # The engine's own detection at that place (with its eyes), else the box as given.
    in_image = [v / image.scale for v in wanted]
    found = max(
        finder.detect(image.rgb), key=lambda face: _overlap_share(face.box.as_list(), in_image), default=None
    )
    if found is None or _overlap_share(found.box.as_list(), in_image) < 0.3:
        found = Face(Box(*(round(v) for v in in_image)))
    crop = finder.crop(image.rgb, found)
    prefix = "" if finder.name == LEGACY_ENGINE else f"{finder.name}-"
    with store.editing() as people:
        person = person_named(people, name)
        photo = person.photos.get(sha)
        if photo is None:
            raise DatasetError(f"the photo was removed from {name} meanwhile")
        same_photo = [c for c in person.crops.values() if c.photo == sha and c.engine == finder.name]
        same_place = [c for c in same_photo if _overlap_share(c.box, wanted) >= 0.5]
        if same_place:
            record = same_place[0]
        else:
            rank = 1 + max((c.rank for c in same_photo), default=-1)
            record = CropRecord(
                id=f"{sha[:16]}_{prefix}{rank}",
                photo=sha,
                box=[round(v) for v in wanted],
                clean=found.eyes_found,
                rank=rank,
                engine=finder.name,
            )
            store.put_file(store.crop_key(person.slug, record.id), encode_png(crop))
            person.crops[record.id] = record
        record.status, record.reason, record.auto = KEPT, "", False
        if finder.name not in photo.searched:
            photo.searched.append(finder.name)
            photo.faces_found[finder.name] = len(same_photo) + (0 if same_place else 1)
    return record.id
