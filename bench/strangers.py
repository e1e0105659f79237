"""Meet the strangers: are the faces a model calls unknown grouped by who they are?

    python -m bench.strangers [--methods chinese_whispers dbscan average] [--cache FILE]

Needs the shared photo set (``CELEB_SHARED_PHOTOS``: ``raw/<person>/``). Every
photo is decoded and searched once with the embeddings engine (every face,
its embedding; cached in ``--cache``). Then, for each of the 10 ways to leave
two of the five people out: a model is trained on the other three people's
photos (each photo's face most like its person, as the dataset keeps it;
``celeb.training.train_bundle``, so the gallery and its calibrated distance
are the app's), every face of every photo of all five is
classified by its gallery distance (unknown: farther than the calibrated
distance), and the unknown faces are grouped by ``celeb.strangers.group_faces``
at ``--scale`` (default ``LINK_FACTOR``, 0.85) times that distance. A face is
labelled with its photo's person when it is the face most like that person
(``celeb.cropping.faces_most_like``); other faces
in a photo (bystanders) have no label and count only in the group sizes.

Figures per pair and method:

- purity: of the labelled faces in groups, the share that are their group's
  main person (target >= 0.95);
- each stranger's unknown faces in their largest group (target >= 0.80);
- mixed: groups holding faces of both strangers (target 0);
- ARI: adjusted Rand index over the labelled unknown faces ("others" as
  singletons);

and the seconds grouping takes for 300 and 3,000 faces (real vectors, plus
copies with a little noise).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from celeb.classify import describe_faces
from celeb.config import DECODE_MAX_SIDE, IMAGE_SUFFIXES, paths
from celeb.cropping import faces_most_like
from celeb.engines import EngineUnavailable, get_engine
from celeb.errors import ImageError
from celeb.faces import TrainingSet
from celeb.images import read_image
from celeb.open_set import crowd_faces
from celeb.strangers import LINK_FACTOR, METHODS, OTHERS, group_faces
from celeb.training import Recipe, train_bundle

TARGETS = {"purity": 0.95, "largest": 0.80, "mixed": 0}
STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Faces:
    """Every face of every photo: its photo, person (the photo's folder), embedding, clean or not,
    and label (the person when it is the face kept for that photo, else None)."""

    photo: np.ndarray  # (n,) photo key "<person>/<file>"
    person: np.ndarray  # (n,) the photo's person
    vectors: np.ndarray  # (n, 128)
    clean: np.ndarray  # (n,) bool
    label: np.ndarray  # (n,) object: person or None
    crowd: np.ndarray  # (n,) bool: a face of the crowd behind its photo's main ones


def list_photos(raw: Path) -> list[tuple[str, str, Path]]:
    return [
        (f"{person.name}/{file.name}", person.name, file)
        for person in sorted(p for p in raw.iterdir() if p.is_dir() and not p.name.startswith("."))
        for file in sorted(person.iterdir())
        if file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith(".")
    ]


def search(engine, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The embeddings of every face in a photo (largest first), whether each is clean, and whether
    each is the crowd's (``celeb.open_set.crowd_faces``, as classifying judges it)."""
    try:
        image = read_image(path, max_side=DECODE_MAX_SIDE)
    except (ImageError, OSError):
        return np.zeros((0, engine.feature_length), np.float32), np.zeros(0, bool), np.zeros(0, bool)
    faces = describe_faces(engine, image.rgb)  # as classifying describes them
    shape = (len(faces), engine.feature_length)
    vectors = np.asarray([one.features for one in faces], np.float32).reshape(shape)
    crowd = crowd_faces([one.face.box.side for one in faces])
    return vectors, np.asarray([one.face.eyes_found for one in faces], bool), np.asarray(crowd, bool)


def all_faces(raw: Path, cache: Path) -> Faces:
    photos = list_photos(raw)
    engine = get_engine("embeddings")
    # Faces described by another engine's settings (one view, another detector) are described again.
    settings = repr(sorted(engine.settings().items()))
    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        known = {key for key, _, _ in photos}
        if (
            "settings" in stored
            and str(stored["settings"]) == settings
            and set(stored["photo"].tolist()) <= known
        ):
            log(f"faces from {cache}")
            return label_faces(
                stored["photo"], stored["person"], stored["vectors"], stored["clean"], stored["crowd"]
            )
    log(f"searching {len(photos)} photos for faces (embeddings engine, 2 threads)")
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = list(pool.map(lambda photo: search(engine, photo[2]), photos))
    keys = np.asarray([key for (key, _, _), (v, _, _) in zip(photos, found, strict=True) for _ in v])
    people = np.asarray([person for (_, person, _), (v, _, _) in zip(photos, found, strict=True) for _ in v])
    vectors = np.concatenate([v for v, _, _ in found])
    clean = np.concatenate([c for _, c, _ in found])
    crowd = np.concatenate([c for _, _, c in found])
    np.savez_compressed(
        cache,
        photo=keys,
        person=people,
        vectors=vectors,
        clean=clean,
        crowd=crowd,
        settings=np.asarray(settings),
    )
    return label_faces(keys, people, vectors, clean, crowd)


def label_faces(keys, people, vectors, clean, crowd) -> Faces:
    """Each photo's clean face most like its person's other photos carries the person's name."""
    label = np.full(len(keys), None, dtype=object)
    for person in sorted(set(people.tolist())):
        photos = list(dict.fromkeys(k for k, p in zip(keys, people, strict=True) if p == person))
        rows = [np.flatnonzero((keys == key) & clean) for key in photos]
        rows = [r for r in rows if len(r)]
        choices = faces_most_like([vectors[r] for r in rows])
        for r, choice in zip(rows, choices, strict=True):
            label[r[choice]] = person
    return Faces(keys, people, vectors, clean, label, crowd)


def train(faces: Faces, known: list[str]):
    rows = np.flatnonzero(np.isin(faces.label.astype(str), known))
    data = TrainingSet(
        faces.vectors[rows],
        faces.label[rows].astype(object),
        faces.photo[rows],
        np.zeros(len(rows), bool),
    )
    # The estimator does not decide who is unknown (the gallery does): one quick candidate.
    _, bundle = train_bundle(data, get_engine("embeddings"), recipe=Recipe(("svm_linear",)))
    return bundle


def measure(faces: Faces, strangers: tuple[str, str], gallery, method: str, scale: float = 1.0) -> dict:
    # The faces the model's rule calls unknown, as sorting an album finds them.
    # Each photo's faces together, as classifying answers them: a person named once, a crowd's face
    # nearer.
    rows = gallery.nearest_per_person(faces.vectors)
    answers: list[str | None] = [None] * len(rows)
    for photo in dict.fromkeys(faces.photo.tolist()):
        mine = np.flatnonzero(faces.photo == photo)
        names = gallery.rule.name_faces([rows[i] for i in mine], faces.crowd[mine].tolist())
        for i, name in zip(mine, names, strict=True):
            answers[i] = name
    unknown = np.flatnonzero([answer is None for answer in answers])
    started = time.perf_counter()
    groups = np.asarray(
        group_faces(
            faces.vectors[unknown],
            gallery.threshold * scale,
            photos=faces.photo[unknown].tolist(),
            method=method,
        )
    )
    seconds = time.perf_counter() - started
    labels = faces.label[unknown]
    labelled = np.asarray([lab is not None for lab in labels])
    main = total = mixed = 0
    for group in sorted(set(groups.tolist()) - {OTHERS}):
        members = Counter(labels[(groups == group) & labelled].tolist())
        if members:
            main += members.most_common(1)[0][1]
            total += sum(members.values())
        mixed += all(members[s] for s in strangers)
    figures = {
        "threshold": gallery.threshold,
        "unknown": len(unknown),
        "groups": len(set(groups.tolist()) - {OTHERS}),
        "others": int((groups == OTHERS).sum()),
        "purity": main / total if total else 1.0,
        "mixed": mixed,
        "seconds": seconds,
    }
    for number, stranger in enumerate(strangers):
        mine = groups[labels == stranger]
        in_groups = Counter(mine[mine != OTHERS].tolist())
        figures[f"unknown_{number}"] = len(mine) / max(int((faces.label == stranger).sum()), 1)
        figures[f"largest_{number}"] = max(in_groups.values(), default=0) / max(len(mine), 1)
    # ARI over the labelled unknown faces; "others" are each their own group.
    predicted = [g if g != OTHERS else -1 - i for i, g in enumerate(groups[labelled].tolist())]
    figures["ari"] = adjusted_rand_score(labels[labelled].astype(str), predicted)
    return figures


def timing(faces: Faces, distance: float, method: str, sizes=(300, 3000)) -> dict[int, float]:
    rng = np.random.default_rng(0)
    seconds = {}
    for size in sizes:
        pick = rng.integers(0, len(faces.vectors), size)
        vectors = faces.vectors[pick] + rng.normal(0, 0.005, (size, faces.vectors.shape[1])).astype(
            np.float32
        )
        photos = [f"photo-{i // 2}" for i in range(size)]
        started = time.perf_counter()
        group_faces(vectors, distance, photos=photos, method=method)
        seconds[size] = time.perf_counter() - started
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--scale", type=float, default=LINK_FACTOR, help="link faces within this times the model's distance"
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "celeb-bench-strangers.npz"
    )
    args = parser.parse_args(argv)
    raw = paths().shared_photos / "raw"
    if not raw.is_dir():
        print(f"bench: the shared photo set is not at {raw}: set CELEB_SHARED_PHOTOS", file=sys.stderr)
        return 2
    try:
        faces = all_faces(raw, args.cache)
    except EngineUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    people = sorted(set(faces.person.tolist()))
    log(f"{len(faces.vectors)} faces, {int((faces.label != None).sum())} labelled; people {people}")  # noqa: E711
    results: dict[str, list[tuple[tuple[str, str], dict]]] = {method: [] for method in args.methods}
    thresholds = []
    for strangers in itertools.combinations(people, 2):
        known = [p for p in people if p not in strangers]
        log(f"training on {', '.join(known)}")
        gallery = train(faces, known).gallery
        thresholds.append(gallery.threshold)
        for method in args.methods:
            results[method].append((strangers, measure(faces, strangers, gallery, method, args.scale)))
    print()
    for method, rows in results.items():
        report(method, rows)
    distance = statistics.median(thresholds) * args.scale
    print(f"grouping time (s), linked within {distance:.3f}, faces: real vectors plus noise")
    print(f"{'method':18} {'300 faces':>10} {'3000 faces':>11}")
    for method in args.methods:
        seconds = timing(faces, distance, method)
        print(f"{method:18} {seconds[300]:>10.3f} {seconds[3000]:>11.3f}")
    return 0


def report(method: str, rows: list) -> None:
    print(f"{method}: targets purity >= {TARGETS['purity']}, largest group >= {TARGETS['largest']}, mixed 0")
    header = (
        f"{'strangers':36} {'dist':>5} {'unkn':>5} {'grp':>4} {'oth':>4} {'purity':>7} "
        f"{'unkn A':>7} {'in 1 A':>7} {'unkn B':>7} {'in 1 B':>7} {'mixed':>6} {'ARI':>6}"
    )
    print(header)
    for (a, b), f in rows:
        print(
            f"{a + ' + ' + b:36} {f['threshold']:>5.3f} {f['unknown']:>5} {f['groups']:>4} {f['others']:>4} "
            f"{f['purity']:>7.3f} {f['unknown_0']:>7.2f} {f['largest_0']:>7.2f} {f['unknown_1']:>7.2f} "
            f"{f['largest_1']:>7.2f} {f['mixed']:>6} {f['ari']:>6.3f}"
        )
    figures = [f for _, f in rows]
    largest = [f[f"largest_{i}"] for f in figures for i in (0, 1)]
    print(
        f"{'mean':36} {'':>5} {'':>5} {'':>4} {'':>4} {statistics.mean(f['purity'] for f in figures):>7.3f} "
        f"{'':>7} {statistics.mean(largest):>7.2f} {'':>7} {'':>7} {sum(f['mixed'] for f in figures):>6} "
        f"{statistics.mean(f['ari'] for f in figures):>6.3f}"
    )
    passed = sum(
        f["purity"] >= TARGETS["purity"]
        and min(f["largest_0"], f["largest_1"]) >= TARGETS["largest"]
        and f["mixed"] == TARGETS["mixed"]
        for f in figures
    )
    print(
        f"pairs meeting every target: {passed} of {len(figures)}; "
        f"worst purity {min(f['purity'] for f in figures):.3f}, "
        f"worst largest-group share {min(largest):.2f}\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
