"""Many people: the whole command line at 10, 40 and all 75 people of ``lfw-half``.

    python -m bench.many_people [--people 10 40 75]

For each size, the first N people of ``lfw-half/people`` (by name) are split
as ``bench.open_set`` splits them (a quarter of each person's photos held out,
the same photos every run), and then exactly what a user runs:

1. ``python -m celeb train <folder of their training photos> --out <tmp>``:
   wall and CPU seconds, CPU-ms per training photo, peak memory of the
   process, and the stage times ``train`` prints;
2. ``python -m celeb classify --json --model <tmp>`` on their held-out
   photos and the 240 photos of 120 strangers: held-out photos named right
   (their name on a face, no other name), the same for people with at most
   10 training photos, strangers' photos answered unknown (no face named),
   and the JSON's bytes per face.

Targets (issue 20, on the half of LFW kept apart): named right >= 0.98,
people with <= 10 training photos >= 0.95, strangers unknown >= 0.95, train
<= 60 CPU-ms per training photo, JSON <= 1,500 bytes per face.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import ROOT, RawPhoto, list_photos, log
from bench.open_set import FEW_PHOTOS, lfw_folder, splits
from celeb.names import display_name


def run(command: list[str]) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """The command's result, wall seconds, CPU seconds and peak memory (MB) of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command[:4])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done, wall, cpu, after.ru_maxrss / 1024  # the largest child so far, in MB


def measure(people: list[RawPhoto], strangers: list[RawPhoto], size: int, scratch: Path) -> dict:
    names = sorted({p.person for p in people})[:size]
    chosen = [p for p in people if p.person in names]
    (held_out,) = splits(chosen, 1, seed=1)
    train_folder = scratch / f"train-{size}"
    for photo in chosen:
        if photo.key not in held_out:
            link = train_folder / photo.person / photo.path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(photo.path)
    training_photos = Counter(p.person for p in chosen if p.key not in held_out)
    model = scratch / f"model-{size}.joblib"
    log(f"{size} people: training on {sum(training_photos.values())} photos")
    trained, train_wall, train_cpu, peak = run(
        [sys.executable, "-m", "celeb", "train", str(train_folder), "--out", str(model)]
    )
    stages = next((line for line in trained.stderr.splitlines() if line.startswith("time: ")), "")
    tests = [p for p in chosen if p.key in held_out] + strangers
    log(f"{size} people: classifying {len(tests)} photos")
    answered, classify_wall, _, _ = run(
        [
            sys.executable,
            "-m",
            "celeb",
            "classify",
            "--json",
            "--model",
            str(model),
            *(str(p.path) for p in tests),
        ]
    )
    records = [json.loads(line) for line in answered.stdout.splitlines()]
    known = {str(p.path): p.person for p in chosen}
    truth = {str(p.path): (display_name(known[str(p.path)]) if str(p.path) in known else None) for p in tests}
    tally = Counter()
    face_bytes = []
    for record in records:
        person = truth[record["file"]]
        named = [face["person"] for face in record["faces"] if face["person"]]
        face_bytes += [len(json.dumps(face)) for face in record["faces"]]
        if person is None:
            tally["strangers"] += 1
            tally["strangers unknown"] += not named
        else:
            few = training_photos[known[record["file"]]] <= FEW_PHOTOS
            right = person in named and all(name == person for name in named)
            tally["known"] += 1
            tally["known right"] += right
            tally["few"] += few
            tally["few right"] += few and right
    photos = sum(training_photos.values())
    return {
        "people": size,
        "training photos": photos,
        "named right": tally["known right"] / max(1, tally["known"]),
        "held-out photos": tally["known"],
        f"named right, <= {FEW_PHOTOS} training photos": tally["few right"] / max(1, tally["few"]),
        "photos of people with few": tally["few"],
        "strangers unknown": tally["strangers unknown"] / max(1, tally["strangers"]),
        "train wall s": train_wall,
        "train CPU s": train_cpu,
        "train CPU-ms per training photo": 1000 * train_cpu / max(1, photos),
        "train peak MB": peak,
        "stages": re.sub(r"^time: ", "", stages),
        "classify wall s": classify_wall,
        "JSON bytes per face, max": max(face_bytes, default=0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.many_people", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[10, 40, 75])
    args = parser.parse_args(argv)
    folder = lfw_folder()
    if folder is None:
        print("bench: lfw-half is not there (set CELEB_LFW_HALF to its folder)", file=sys.stderr)
        return 2
    people, strangers = list_photos(folder / "people"), list_photos(folder / "strangers")
    rows = []
    with tempfile.TemporaryDirectory(prefix="celeb-many-") as scratch:
        for size in args.people:
            rows.append(measure(people, strangers, size, Path(scratch)))
    keys = [key for key in rows[0] if key != "stages"]
    print("| figure | " + " | ".join(f"{row['people']} people" for row in rows) + " |")
    print("|" + " --- |" * (len(rows) + 1))
    for key in keys[1:]:
        cells = [
            f"{row[key]:.3f}"
            if isinstance(row[key], float) and row[key] < 10
            else f"{row[key]:.0f}"
            if isinstance(row[key], float)
            else str(row[key])
            for row in rows
        ]
        print(f"| {key} | " + " | ".join(cells) + " |")
    for row in rows:
        print(f"\n{row['people']} people, train's stages (wall / CPU): {row['stages']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
