"""The command line: ``python -m celeb train|classify|sort|evaluate|import-urls|store|hash-password``.

The dataset and the models are those of the store in force (:mod:`celeb.stores`): the folders
``dataset/`` and ``models/``, or the database of ``CELEB_DATABASE_URL``.

Exit codes: 0 when all went well, 1 when some input failed (every record is
still printed), 2 on usage errors (a folder with no photo to work on is one).
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .auth import hash_password
from .classify import Classifier
from .config import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    DEFAULT_STRICTNESS,
    IMAGE_SUFFIXES,
    MAX_CSV_BYTES,
    STRICTNESS,
)
from .dataset import DatasetStore
from .engines import DEFAULT_ENGINE, ENGINE_NAMES, INSTALL_ENGINES_COMMAND, Engine, engine_available
from .errors import CelebError, ImageError
from .evaluate import evaluate_folder, labelled_photos, printable_path
from .images import image_files
from .model import read_bundle, save_bundle
from .model_search import CANDIDATES, StageTime, timed, timings_text
from .open_set import point_line
from .registry import ModelRegistry
from .sort.album import sort_photos
from .sort.places import SortError, SortUsageError, check_places
from .sort.report import REPORT_FILE, UNKNOWN
from .storage import FileTooLargeError, read_regular_file
from .store_copy import copy_store, location_of
from .stores import store_location
from .terminal import format_table, progress_printer, terminal_text
from .training import Recipe, StoreTraining, compare_engines, train_from_store
from .url_import import import_urls, read_url_csv


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CelebError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`python -m celeb classify ... | head`): stop quietly, as Unix tools do.
        # Python would report the pipe again when it flushes stdout at exit, so point stdout elsewhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m celeb", description="Recognise chosen people in photos.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a model on a dataset",
        description="Train a model. DATASET_DIR is a folder with one sub-folder of photos per person, "
        "or a celeb dataset/ store (with manifest.json); left out, the dataset of the store in force "
        "(the database of CELEB_DATABASE_URL, or dataset/). The model becomes the store's active one.",
    )
    train.add_argument("dataset", type=Path, metavar="DATASET_DIR", nargs="?")
    train.add_argument(
        "--out", type=Path, help="model file to write instead (default: the store's active model)"
    )
    train.add_argument("--models", nargs="+", choices=sorted(CANDIDATES), help="models to try (default: all)")
    train.add_argument(
        "--test-size", type=float, default=0.25, help="share of photos held out (default 0.25)"
    )
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    train.add_argument(
        "--strictness",
        choices=list(STRICTNESS),
        default=DEFAULT_STRICTNESS,
        help="embeddings engine: how sure before naming, saved with the model "
        f"(default {DEFAULT_STRICTNESS}; stricter: fewer wrong names, more 'unknown')",
    )
    train.add_argument(
        "--engine",
        choices=ENGINE_NAMES,
        default=DEFAULT_ENGINE,
        help=f"how faces are found and described (default {DEFAULT_ENGINE}; classic is the original "
        f"recipe; every engine is installed by `{INSTALL_ENGINES_COMMAND}`)",
    )
    train.add_argument(
        "--compare",
        action="store_true",
        help="train every installed engine on the same held-out photos and print them side by side "
        "(a photo where an engine finds no face is its miss); no model is saved",
    )
    train.add_argument(
        "--quick",
        action="store_true",
        help="retrain only the active model's winner, with its parameters (seconds instead of a grid "
        "search: after rejecting or adding a few crops), as the Train page's quick retrain does",
    )
    train.set_defaults(run=_train)

    classify = commands.add_parser(
        "classify",
        help="name the people in photos",
        description="Each PATH is a photo, or a folder: its image files and those of its sub-folders "
        "(hidden ones left out), in the order of their path inside it.",
    )
    classify.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    _model_options(classify)
    classify.add_argument("--json", action="store_true", help="one JSON object per input file, per line")
    classify.set_defaults(run=_classify)

    sort = commands.add_parser(
        "sort",
        help="file an album's photos by who is in them",
        description="Copy every photo of SRC (sub-folders too) into DEST/<person>/ for each known person "
        "in it (a photo of two people goes in both), DEST/unknown/ when a face is nobody the model "
        f"knows, DEST/no face/ when there is no face. With an embeddings model the unknown faces are "
        "grouped by who they look like: DEST/unknown/group-01/ ... (largest group first) and "
        f"DEST/unknown/others/ for faces that fit no group. DEST/{REPORT_FILE} lists every photo. A second "
        "run skips the photos done already (and regroups the unknown faces). SRC is only read; SRC and "
        "DEST may not overlap (one inside the other, or the same folder). Exit status: 0 when every "
        "photo was filed; 1 when a photo could not be read (it is listed) or DEST could not be written "
        "(read-only, full: one error line; a rerun resumes); 2 on usage errors (SRC is not a folder, "
        "SRC and DEST overlap).",
    )
    sort.add_argument("album", type=Path, metavar="SRC")
    sort.add_argument("dest", type=Path, metavar="DEST")
    _model_options(sort)
    sort.set_defaults(run=_sort)

    evaluate = commands.add_parser(
        "evaluate",
        help="measure a model on labelled photos",
        description="DATASET_DIR holds one sub-folder of photos per person (the folder name is the label).",
    )
    evaluate.add_argument("dataset", type=Path, metavar="DATASET_DIR")
    _model_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    evaluate.set_defaults(run=_evaluate)

    urls = commands.add_parser(
        "import-urls",
        help="download photos from a CSV of person,url rows into the dataset",
        description="Download every address of FILE.csv (rows 'person,url'; a header row is allowed) into "
        "that person's photos in the dataset, adding a person with their first photo. Only public http(s) "
        "addresses are downloaded (CELEB_ALLOWED_HOSTS lists host:port exceptions); addresses imported "
        "before and photos already in the dataset are skipped. Then run the app's Find faces, or `train` "
        "on the dataset.",
    )
    urls.add_argument("csv", type=Path, metavar="FILE.csv")
    urls.add_argument(
        "--dataset", type=Path, help="dataset folder (default: the store in force: the database, or dataset/)"
    )
    urls.set_defaults(run=_import_urls)

    store = commands.add_parser(
        "store",
        help="where the dataset and models are kept; copy them between a folder and a database",
        description="`store where` names the store in force (CELEB_DATABASE_URL's database, or the "
        "folders). `store copy SRC DEST` copies a dataset and its models: each of SRC and DEST is a "
        "database URL (postgresql+psycopg://user:password@host/db, sqlite:///file.db) or a folder (one "
        "with manifest.json is a dataset, its models in models/ beside it; any other holds dataset/ and "
        "models/). DEST must be empty or hold an earlier copy of SRC: a copy stopped halfway resumes. "
        "Every photo's SHA-256 is checked at the end. Exit status 1 when a file could not be copied.",
    )
    store_commands = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    where = store_commands.add_parser("where", help="name the store in force")
    where.set_defaults(run=_store_where)
    copy = store_commands.add_parser("copy", help="copy a dataset and its models into another store")
    copy.add_argument("source", metavar="SRC")
    copy.add_argument("dest", metavar="DEST")
    copy.set_defaults(run=_store_copy)

    password = commands.add_parser(
        "hash-password",
        help="make the owner password hash for the app's secrets",
        description="Asks for a new owner password (twice on a terminal; one line from standard input "
        "otherwise) and prints the lines to put in .streamlit/secrets.toml (or the app's Secrets on "
        "Streamlit Community Cloud). Only the salted scrypt hash is printed, never the password.",
    )
    password.set_defaults(run=_hash_password)
    return parser


def probability(text: str) -> float:
    """An argparse type: a finite number from 0 to 1 (nan, inf, -1 and 2 are usage errors).

    >>> probability("0.4"), probability("1")
    (0.4, 1.0)
    """
    value = _finite(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability from 0 to 1")
    return value


def positive(text: str) -> float:
    """An argparse type: a finite number above 0."""
    value = _finite(text)
    if value <= 0.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
    return value


def _finite(text: str) -> float:
    # float() takes "nan" and "inf"; every comparison with nan is False, so it would pass any range check.
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="model file (default: models/model.joblib)")
    parser.add_argument(
        "--threshold",
        type=probability,
        default=DEFAULT_CONFIDENCE_THRESHOLD,
        help=f"below this probability a face is 'not sure' (default {DEFAULT_CONFIDENCE_THRESHOLD}; "
        "classic engine)",
    )
    parser.add_argument(
        "--strictness",
        choices=list(STRICTNESS),
        help="embeddings engine: name at another of the model's fitted settings than the one saved "
        "with it (stricter: fewer wrong names, more 'unknown')",
    )
    parser.add_argument(
        "--distance",
        type=positive,
        help="embeddings engine: name nobody farther than this from a person's training faces "
        "(default: the model's fitted distance)",
    )


def _classifier(args: argparse.Namespace) -> Classifier:
    bundle, note = read_bundle(args.model or store_location().active_model_path())
    if note:
        print(f"warning: {note}", file=sys.stderr)
    try:
        return Classifier(
            bundle, threshold=args.threshold, distance_threshold=args.distance, strictness=args.strictness
        )
    except ValueError as exc:  # a model without fitted settings (by probability)
        raise CelebError(str(exc)) from exc


def _train(args: argparse.Namespace) -> int:
    root, out = args.dataset, args.out
    if args.quick and (args.models or args.compare):
        print(
            "error: --quick retrains the active model's winner alone: leave out --models and --compare",
            file=sys.stderr,
        )
        return 2
    if root is None:
        return _train_store(store_location().open_dataset(), args, out)
    if not root.is_dir():
        print(f"error: {root} is not a folder", file=sys.stderr)
        return 2
    if (root / "manifest.json").exists():
        return _train_store(DatasetStore(root), args, out)
    with tempfile.TemporaryDirectory(prefix="celeb-train-") as scratch:
        store = DatasetStore(scratch)
        timings: list[StageTime] = []
        with timed("importing", timings):
            report = store.import_folders(root)
        print(f"imported {report.summary()}", file=sys.stderr)
        for name, why in report.skipped:
            print(f"  skipped {name}: {why}", file=sys.stderr)
        return _train_store(store, args, out, timings)


def _train_store(
    store: DatasetStore, args: argparse.Namespace, out: Path | None, timings: list[StageTime] | None = None
) -> int:
    """Train on ``store`` and save the model (in ``out``, or as the active model of the store in
    force); ``timings``: the stages before (importing a folder)."""
    if args.compare:
        return _compare_engines(store, args)
    timings = list(timings or [])
    engine = store.engine(args.engine)
    with timed("finding faces", timings):
        cropped = store.find_faces(engine=engine.name, progress=progress_printer("finding faces"))
    print(
        f"faces: {cropped.faces}{engine.faces_kept_as} in {cropped.photos} new photos, {cropped.kept} kept",
        file=sys.stderr,
    )
    trained = train_from_store(
        store,
        engine,
        recipe=_recipe(args),
        progress=lambda step, done, total: print(f"[{done}/{total}] {step}", file=sys.stderr),
        on_unreadable=lambda why: print(f"warning: {why}", file=sys.stderr),
    )
    result, bundle = trained.result, trained.bundle
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(format_table(result.table()))
    print(
        f"\nwinner: {result.winner}, test accuracy {result.test_accuracy:.3f} on {result.test_size} faces\n"
    )
    print(result.report_text)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if bundle.gallery is not None:
        bundle = bundle.with_strictness(args.strictness)
        print("naming (fitted on the training faces, each person left out in turn as a stranger):")
        for point in bundle.gallery.rule.points:
            chosen = " <- saved with the model" if point.strictness == args.strictness else ""
            print(f"  {point_line(point)}{chosen}")
    location = store_location()
    if out is None and location.database_url:
        location.open_models().activate(bundle)
        print(f"model saved as the active one in {location.shown()}; the one it replaced is in its history")
    elif out is None or out.name == ModelRegistry(out.parent).active_path.name:
        # A folder's active model: the one it replaces is kept in history, as the app keeps it.
        registry = ModelRegistry(out.parent if out is not None else location.models)
        registry.activate(bundle)
        out = registry.active_path
        print(f"model saved to {out}; the model it replaced, if any, is kept in {registry.history_dir}")
    else:
        save_bundle(bundle, out)
        print(f"model saved to {out}")
    print(f"time: {timings_text([*timings, *result.timings])}", file=sys.stderr)
    return 0


def _recipe(args: argparse.Namespace) -> Recipe:
    if args.quick:
        active, note = read_bundle(store_location().active_model_path())
        if note:
            print(f"warning: {note}", file=sys.stderr)
        return Recipe.quick(active, test_size=args.test_size, folds=args.folds)
    return Recipe(args.models or (), test_size=args.test_size, folds=args.folds)


def _compare_engines(store: DatasetStore, args: argparse.Namespace) -> int:
    """``train --compare``: every installed engine trained on the same held-out photos, side by side."""
    engines = [store.engine(name) for name in ENGINE_NAMES if engine_available(name)]
    for engine in engines:
        store.find_faces(engine=engine.name, progress=progress_printer(f"finding faces ({engine.name})"))

    def run(engine: Engine, held_out: set[str]) -> StoreTraining:
        print(f"training {engine.name}", file=sys.stderr)
        return train_from_store(
            store,
            engine,
            recipe=recipe,
            test_photos=held_out,
            on_unreadable=lambda why: print(f"warning: {why}", file=sys.stderr),
        )

    recipe = _recipe(args)
    comparison = compare_engines(store, engines, recipe, run)
    for engine, why in comparison.skipped:
        print(f"note: {engine.name} not trained: {why}", file=sys.stderr)
    rows = [
        {
            "engine": engine.name,
            "winner": trained.result.winner,
            "test accuracy (its faces)": round(trained.result.test_accuracy, 3),
            "held-out photos named right": round(comparison.scores[engine.name].accuracy, 3),
            "photos without a face": comparison.scores[engine.name].no_face,
        }
        for engine, trained in comparison.runs
    ]
    print(format_table(rows))
    shared = next(iter(comparison.scores.values()), None)
    if shared is not None:
        print(f"\n{shared.photos} held-out photos, the same for every engine; no model was saved")
    return 0


def _classify(args: argparse.Namespace) -> int:
    inputs = []
    for path in args.paths:
        found = image_files(path, on_error=_unreadable_folder) if path.is_dir() else [path]
        if not found:
            # Nothing to classify is a mistake in the command, not a photo that failed.
            print(
                f"error: {terminal_text(path)} holds no image files ({' '.join(IMAGE_SUFFIXES)})",
                file=sys.stderr,
            )
            return 2
        inputs += found
    classifier = _classifier(args)
    failed = False
    for path in inputs:
        try:
            faces = classifier.classify(path).faces
            error = None
        except ImageError as exc:
            faces, error, failed = [], str(exc), True
        if args.json:
            record = {
                "file": printable_path(path),
                "error": error,
                "faces": [face.as_json() for face in faces],
            }
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            _print_faces(path, error, faces)
    return 1 if failed else 0


def _unreadable_folder(exc: OSError) -> None:
    print(
        f"warning: {terminal_text(Path(exc.filename))} cannot be read ({exc.strerror or exc})",
        file=sys.stderr,
    )


def _print_faces(path: Path, error: str | None, faces: list) -> None:
    shown = terminal_text(path)
    if error:
        print(f"{shown}: error: {error}")
    elif not faces:
        print(f"{shown}: no face found (a clear frontal face is needed)")
    for face in faces:
        note = "" if face.clean else ", eyes not both visible: less reliable"
        if face.unknown:
            # The distances decided, so no probability: it would read as a confident answer.
            who = f"unknown person: {face.why}"
        elif face.person is None:
            who = f"not sure (maybe {face.best_guess}: {face.why})"
        elif face.distance is not None:
            who = f"{face.person} (distance {face.distance:.2f})"
        else:
            who = f"{face.person} {face.probability:.0%}"
        print(f"{shown}: {terminal_text(who)} at {face.box.as_list()}{note}")


def _sort(args: argparse.Namespace) -> int:
    # A DEST that cannot be written is exit status 1 (the command was right, the run failed).
    try:
        check_places(args.album, args.dest)  # before the model is loaded
        classifier = _classifier(args)
        report = sort_photos(args.album, args.dest, classifier, progress=progress_printer("sorting photos"))
    except SortError as exc:
        print(f"error: {terminal_text(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, SortUsageError) else 1
    done_before = len(report.photos) - report.classified_now
    print(
        f"{len(report.photos)} photos: {report.classified_now} sorted now"
        + (f", {done_before} done in an earlier run" if done_before else "")
    )
    duplicates = report.duplicates()
    for folder, count in report.folder_counts().most_common():
        if not folder.startswith(f"{UNKNOWN}/"):  # the groups' folders: a line each below
            # Photos of the same name and bytes share one file: say so, so that the folder agrees.
            shared = duplicates[folder]
            plural = "s" if shared > 1 else ""
            note = f" ({count - shared} files; {shared} duplicate{plural})" if shared else ""
            print(f"  {terminal_text(folder)}: {count} photos{note}")
    if report.groups:
        strangers = [group for group in report.groups if not group.others]
        print(f"unknown faces: {len(strangers)} groups of the same person (largest first)")
    for group in report.groups:
        shared = duplicates[f"{UNKNOWN}/{group.name}"]
        note = f" ({len(group.photos) - shared} files)" if shared else ""
        print(f"  {UNKNOWN}/{group.name}: {len(group.faces)} faces in {len(group.photos)} photos{note}")
    for photo in report.unreadable:
        print(f"  cannot be read: {terminal_text(Path(photo.path))}: {terminal_text(photo.error)}")
    for folder, why in report.unreadable_folders:
        print(f"  folder cannot be read: {terminal_text(Path(folder))}: {terminal_text(why)}")
    print(f"list of every photo: {terminal_text(args.dest / REPORT_FILE)}")
    return 1 if report.unreadable or report.unreadable_folders else 0


def _evaluate(args: argparse.Namespace) -> int:
    if not args.dataset.is_dir():
        print(f"error: {args.dataset} is not a folder", file=sys.stderr)
        return 2
    if not labelled_photos(args.dataset):
        # Figures over no photos would read as a model that gets everything wrong.
        print(
            f"error: {terminal_text(args.dataset)} holds no photos to evaluate on: it needs one sub-folder "
            f"of photos per person ({' '.join(IMAGE_SUFFIXES)})",
            file=sys.stderr,
        )
        return 2
    evaluation = evaluate_folder(args.dataset, _classifier(args), progress=progress_printer("classifying"))
    figures = evaluation.as_json()
    for failure in figures["errors"]:
        print(f"error: {failure['file']}: {failure['error']}", file=sys.stderr)
    if evaluation.photos_in_training:
        print(
            f"warning: {evaluation.photos_in_training} of {figures['photos']} photos were used to train this "
            "model: these figures overstate how it does on new photos",
            file=sys.stderr,
        )
    status = 1 if figures["errors"] else 0
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
        return status
    print(f"photos: {figures['photos']}")
    if evaluation.photos_in_training:
        print(f"photos this model was trained on: {evaluation.photos_in_training} (the figures overstate it)")
    print(f"coverage (a confident answer): {figures['coverage']:.3f}")
    print(f"accuracy over confident answers: {figures['confident_accuracy']:.3f}")
    print(f"end-to-end accuracy (all photos): {figures['end_to_end_accuracy']:.3f}\n")
    rows = [
        {"person": person, **{k: round(v, 3) for k, v in f.items()}}
        for person, f in evaluation.per_person().items()
    ]
    print(format_table(rows))
    names, columns, matrix = evaluation.confusion()
    print("\nconfusion (rows: truth, columns: answer)")
    print(
        format_table(
            [
                {"truth": n, **dict(zip(columns, map(int, row), strict=True))}
                for n, row in zip(names, matrix, strict=True)
            ]
        )
    )
    return status


def _import_urls(args: argparse.Namespace) -> int:
    try:
        # MAX_CSV_BYTES + 1 read: read_url_csv refuses it whole, and a FIFO or device never blocks.
        jobs = read_url_csv(read_regular_file(args.csv, MAX_CSV_BYTES + 1))
    except FileTooLargeError:
        print(f"error: {args.csv} is over the limit of {MAX_CSV_BYTES // 2**20} MB", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.csv} cannot be read ({exc.strerror or exc})", file=sys.stderr)
        return 2
    store = DatasetStore(args.dataset) if args.dataset else store_location().open_dataset()
    report = import_urls(store, jobs, progress=progress_printer("downloading"))
    for person, url in report.added:
        print(f"added    {terminal_text(person)}: {terminal_text(url)}")
    for person, url, why in report.skipped:
        print(f"skipped  {terminal_text(person)}: {terminal_text(url)}: {terminal_text(why)}")
    for person, url, why in report.failed:
        print(f"failed   {terminal_text(person)}: {terminal_text(url)}: {terminal_text(why)}")
    print(report.summary())
    return 1 if report.failed else 0


def _store_where(args: argparse.Namespace) -> int:
    location = store_location()
    print(f"{location.kind}: {location.shown()}")
    if location.database_url:
        print(f"working copy (a cache, safe to delete): {location.dataset.parent}")
    return 0


def _store_copy(args: argparse.Namespace) -> int:
    try:
        source, target = location_of(args.source), location_of(args.dest)
    except CelebError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = copy_store(source, target, progress=progress_printer("copying"))
    for problem in report.problems:
        print(f"problem: {terminal_text(problem)}", file=sys.stderr)
    print(f"copied {report.summary()} from {source.shown()} to {target.shown()}")
    return 1 if report.problems else 0


def _hash_password(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("New owner password: ")
        if getpass.getpass("Once more: ") != password:
            print("error: the two passwords differ; nothing was made", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    stored = hash_password(password)
    print("# Put these lines in .streamlit/secrets.toml (locally) or in the app's Secrets (Cloud):")
    print("[celeb]")
    print(f'owner_password_hash = "{stored}"')
    return 0
