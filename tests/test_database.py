"""The database store (celeb.database, celeb.stores, celeb.store_copy) against a real PostgreSQL: the
models' contract, a working folder filled again after a restart, writers killed with SIGKILL, two
writing processes at once, the URL's secrets never shown, and ``store copy`` there and back.

Every test has a fresh database of its own (the ``postgres_url`` fixture). Processes are real ones
(``subprocess`` or ``multiprocessing``'s spawn), as the folder store's kill and concurrency tests are
written (test_manifest.py); the state after a kill is read by a store with a working folder of its
own, so nothing this process has cached stands in for what the database holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import constant_bundle, tiny_png
from postgres_server import PostgresServer, free_port

import celeb.registry as registry_module
from celeb.cli import main
from celeb.config import PROJECT_ROOT
from celeb.database import DatabaseModels, database
from celeb.dataset import KEPT, REJECTED, DatasetStore
from celeb.errors import ModelError, ReadOnlyError, StoreError
from celeb.manifest import PersonRecord, manifest_text
from celeb.registry import ModelRegistry
from celeb.store_copy import copy_store, location_of
from celeb.stores import StoreLocation, store_location

#: Where the face is in make_photo's 256 px astronaut (x, y, w, h): a face the owner chose.
FACE_BOX = [160, 20, 80, 90]
PNG = b"\x89PNG\r\n\x1a\n"
#: The data tables: a read must never add a row to any of them.
DATA_TABLES = ("celeb_changes", "celeb_snapshot", "celeb_files", "celeb_model_files")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def when(minutes: int) -> str:
    """A distinct trained_at per model, so that every model file's bytes differ."""
    return (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


def rows_of(url: str) -> dict[str, list[tuple]]:
    """Every row of every celeb table, read with a connection of its own (files as their SHA-256,
    recomputed from the bytes held, beside the one recorded)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            found: dict[str, list[tuple]] = {}
            for table in ("celeb_lock", *DATA_TABLES):
                if table not in tables:
                    found[table] = []
                    continue
                rows = connection.execute(sa.text(f"SELECT * FROM {table}")).all()
                found[table] = sorted(
                    tuple(
                        sha(bytes(value)) if isinstance(value, bytes | memoryview) else value for value in row
                    )
                    for row in rows
                )
            return found
    finally:
        engine.dispose()


def files_of(url: str, table: str = "celeb_files") -> dict[str, tuple[str, bytes]]:
    """The file rows of ``table``: key -> (the SHA-256 recorded, the bytes held)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(f"SELECT * FROM {table}")).all()
            return {key: (digest, bytes(data)) for key, digest, data in rows}
    finally:
        engine.dispose()


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment, for a child that imports celeb and the tests' helpers."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "tests")])
    env.update(extra)
    return env


def dataset_files(root: Path) -> dict[str, bytes]:
    """The photos and crops of a dataset folder (or working copy), by their path in it."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.glob("*/*/*")
        if path.parent.name in ("photos", "crops") and path.is_file()
    }


def model_files(root: Path) -> dict[str, bytes]:
    """The files of a models folder (or working copy): active model, card, history."""
    names = [root / "model.joblib", root / "model.json", *sorted(root.glob("history/*"))]
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in names if path.is_file()}


# ---------------------------------------------------------------- the models' contract

MODEL_STORES = ["folder", "postgresql"]


def open_models(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> ModelRegistry:
    if kind == "folder":
        return ModelRegistry(tmp_path / "models")
    return DatabaseModels(database(request.getfixturevalue("postgres_url")), tmp_path / "work-models")


def other_view(registry: ModelRegistry, tmp_path: Path) -> ModelRegistry:
    """The same models as another process sees them: the same folder, or for a database another
    working folder."""
    if isinstance(registry, DatabaseModels):
        return DatabaseModels(registry.db, tmp_path / "other-work-models")
    return ModelRegistry(registry.root)


@pytest.mark.parametrize("kind", MODEL_STORES)
def test_activate_restore_delete_as_another_process_sees_them(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
):
    registry = open_models(kind, tmp_path, request)
    view = other_view(registry, tmp_path)
    assert registry.active_version() is None and registry.active_info() is None and registry.history() == []

    first_info = registry.activate(constant_bundle("Ann", when=when(0)))
    first = registry.active_bytes()
    assert first_info.sha256 == sha(first)
    assert view.active_bytes() == first and view.active_info().sha256 == sha(first)
    assert view.history() == []

    registry.activate(constant_bundle("Zed", when=when(60)))
    second = registry.active_bytes()
    (entry,) = registry.history()
    assert entry.path.read_bytes() == first and entry.trained_at == when(0)
    assert view.active_bytes() == second and view.load_active().trained_at == when(60)
    (seen,) = view.history()
    assert (seen.id, seen.trained_at, seen.path.read_bytes()) == (entry.id, when(0), first)

    assert registry.restore(entry.id).trained_at == when(0)
    assert registry.active_bytes() == first
    (replaced,) = registry.history()
    assert replaced.path.read_bytes() == second
    assert view.active_bytes() == first and [e.id for e in view.history()] == [replaced.id]

    view.delete(replaced.id)  # the other process deletes: this one sees it
    assert registry.history() == [] and registry.active_bytes() == first
    assert registry.active_info().sha256 == sha(first)
    with pytest.raises(ModelError, match="there is no earlier model"):
        registry.delete(replaced.id)
    if kind == "postgresql":
        held = files_of(request.getfixturevalue("postgres_url"), "celeb_model_files")
        assert sorted(held) == ["model.joblib", "model.json"]
        assert held["model.joblib"] == (sha(first), first)
        assert json.loads(held["model.json"][1])["sha256"] == sha(first)


def test_an_empty_database_answers_with_the_shipped_model_and_reading_writes_nothing(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    shipped = tmp_path / "shipped"
    ModelRegistry(shipped).activate(constant_bundle("Zed", when=when(5)))
    shipped_files = model_files(shipped)
    monkeypatch.setenv("CELEB_MODELS_DIR", str(shipped))  # the repository's models/
    location = store_location(postgres_url)
    assert location.shipped_models == shipped

    owner = location.open_models()
    version = owner.active_version()
    assert version is not None and version.path == location.models / "model.joblib"
    assert owner.active_bytes() == shipped_files["model.joblib"]
    assert owner.load_active().trained_at == when(5)
    assert owner.active_info().sha256 == sha(shipped_files["model.joblib"])
    assert owner.history() == []
    assert location.active_model_path().read_bytes() == shipped_files["model.joblib"]
    visitor = DatabaseModels(location.database(), tmp_path / "visitor-models", shipped, read_only=True)
    assert visitor.load_active().classes == ["Ann", "Zed"]
    assert location.open_dataset().people() == []
    assert DatasetStore(tmp_path / "visitor", read_only=True, database=location.database()).people() == []

    rows = rows_of(postgres_url)
    assert {table: rows[table] for table in DATA_TABLES} == {table: [] for table in DATA_TABLES}
    assert [changes for _, changes in rows["celeb_lock"]] == [0, 0]  # no lock was ever taken
    assert model_files(shipped) == shipped_files

    # The owner's first model: the shipped one is kept in the history, in the database.
    owner.activate(constant_bundle("Ann", when=when(6)))
    (entry,) = visitor.history()
    assert entry.path.read_bytes() == shipped_files["model.joblib"]
    assert visitor.load_active().trained_at == when(6)
    assert model_files(shipped) == shipped_files


def test_a_visitor_can_read_but_not_change_the_database(postgres_url: str, tmp_path: Path, make_photo):
    db = database(postgres_url)
    owner = DatasetStore(tmp_path / "owner", database=db)
    owner.add_person("Ada")
    crop_id = owner.add_chosen_face("Ada", make_photo("red", 1), "ada.jpg", FACE_BOX, engine="classic")
    owner_models = DatabaseModels(db, tmp_path / "owner-models")
    owner_models.activate(constant_bundle("Ann", when=when(0)))
    owner_models.activate(constant_bundle("Zed", when=when(1)))
    (entry,) = owner_models.history()
    before = rows_of(postgres_url)

    visitor = DatasetStore(tmp_path / "visitor", read_only=True, database=db)
    models = DatabaseModels(db, tmp_path / "visitor-models", read_only=True)
    assert [(p.name, p.photos, p.kept) for p in visitor.people(engine="classic")] == [("Ada", 1, 1)]
    assert visitor.crop(crop_id).path.read_bytes()[:8] == PNG
    data, ids = visitor.training_set(visitor.engine("classic"))
    assert ids == [crop_id] and data.features.shape[0] == 2  # the crop and its mirror
    assert models.load_active().trained_at == when(1) and [e.id for e in models.history()] == [entry.id]

    attempts = {
        "add_person": lambda: visitor.add_person("Bo"),
        "add_photo": lambda: visitor.add_photo("Ada", make_photo("red", 2), "two.jpg"),
        "rename_person": lambda: visitor.rename_person("Ada", "Ada Lovelace"),
        "delete_person": lambda: visitor.delete_person("Ada"),
        "set_status": lambda: visitor.set_status([crop_id], REJECTED),
        "find_faces": lambda: visitor.find_faces(engine="classic"),
        "add_chosen_face": lambda: visitor.add_chosen_face(
            "Ada", make_photo("red", 3), "three.jpg", FACE_BOX, engine="classic"
        ),
        "activate": lambda: models.activate(constant_bundle("Ann", when=when(2))),
        "restore": lambda: models.restore(entry.id),
        "delete": lambda: models.delete(entry.id),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ReadOnlyError):
            attempt()
            pytest.fail(f"a visitor's {what} was not refused")
    assert rows_of(postgres_url) == before
    assert [(p.name, p.photos, p.kept) for p in owner.people(engine="classic")] == [("Ada", 1, 1)]


def test_a_reader_sharing_the_working_folder_never_undoes_an_activation(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The app opens the models once per page run, every session on one working folder (store_location's):
    a visitor's page that reads while the owner's activation is being saved must not undo it."""
    db = database(postgres_url)
    owner = DatabaseModels(db, tmp_path / "work")
    owner.activate(constant_bundle("Ann", when=when(0)))
    first = owner.active_bytes()
    visitor = DatabaseModels(db, tmp_path / "work", read_only=True)  # another session's page run
    push, readers, seen = owner._push, [], []

    def push_while_a_visitor_reads() -> None:
        # The owner's new files are in the working folder, not yet in the database: a page runs.
        reader = threading.Thread(target=lambda: seen.append(visitor.active_bytes()))
        reader.start()
        readers.append(reader)
        reader.join(timeout=0.5)  # a reader may wait for the change to be committed, never undo it
        push()

    monkeypatch.setattr(owner, "_push", push_while_a_visitor_reads)
    info = owner.activate(constant_bundle("Zed", when=when(1)))
    monkeypatch.undo()
    (reader,) = readers
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert [sha(data) for data in seen] == [info.sha256]  # it waited for the change to be committed
    elsewhere = DatabaseModels(db, tmp_path / "elsewhere")
    assert sha(elsewhere.active_bytes()) == info.sha256
    assert json.loads((elsewhere.root / "model.json").read_text())["sha256"] == info.sha256
    (entry,) = elsewhere.history()
    assert entry.path.read_bytes() == first
    assert sha(visitor.active_bytes()) == info.sha256 and [e.id for e in visitor.history()] == [entry.id]


# ---------------------------------------------------------------- a restart


RESTARTED = r"""
import json, sys
from pathlib import Path
import celeb.feature_cache as feature_cache
from celeb.database import DatabaseModels, database
from celeb.dataset import DatasetStore

url, work = sys.argv[1], Path(sys.argv[2])
computed = []
compute = feature_cache.crop_vectors
feature_cache.crop_vectors = lambda engine, image: computed.append(1) or compute(engine, image)
store = DatasetStore(work / "dataset", database=database(url))
people = sorted((p.name, p.photos, p.kept) for p in store.people(engine="classic"))
_, ids = store.training_set(store.engine("classic"))
model = DatabaseModels(database(url), work / "models").load_active()
print(json.dumps({"people": people, "ids": ids, "computed": len(computed), "model": model.trained_at}))
"""


def test_a_deleted_working_folder_is_filled_again_after_a_restart(
    template_root: Path, postgres_url: str, tmp_path: Path
):
    work = tmp_path / "work"
    source = StoreLocation("", template_root, tmp_path / "no-models", tmp_path / "no-models")
    target = StoreLocation(postgres_url, work / "dataset", work / "models", tmp_path / "no-models")
    assert not copy_store(source, target).problems
    store = DatasetStore(work / "dataset", database=database(postgres_url))
    _, ids = store.training_set(store.engine("classic"))  # computes the features, and keeps them
    assert len(ids) == 8
    DatabaseModels(database(postgres_url), work / "models").activate(constant_bundle("Ann", when=when(9)))
    files = dataset_files(work / "dataset")
    assert len(files) == 16  # 8 photos, 8 crops
    (cache,) = (work / "dataset" / ".cache").glob("features-*.npz")
    cache_bytes, models = cache.read_bytes(), model_files(work / "models")

    shutil.rmtree(work)  # the Cloud restarts the app on a new disk
    result = subprocess.run(
        [sys.executable, "-c", RESTARTED, postgres_url, str(work)],
        cwd=PROJECT_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["people"] == [["Ada", 4, 4], ["Bo", 4, 4]]
    assert sorted(seen["ids"]) == sorted(ids)
    assert seen["computed"] == 0  # every vector came from the feature cache the database kept
    assert seen["model"] == when(9)
    assert dataset_files(work / "dataset") == files  # byte for byte
    assert cache.read_bytes() == cache_bytes
    assert model_files(work / "models") == models


def test_a_working_folder_deleted_while_the_process_runs_is_filled_again(postgres_url: str, tmp_path: Path):
    db = database(postgres_url)
    store = DatasetStore(tmp_path / "work", database=db)
    store.add_person("Ada")
    for seed in range(3):
        store.add_photo("Ada", tiny_png(seed), f"{seed}.png")
    files = dataset_files(store.root)
    assert len(files) == 3
    shutil.rmtree(store.root)  # "a cache, safe to delete" (store where)
    again = DatasetStore(tmp_path / "work", database=db)
    assert len(again.records()["ada"].photos) == 3
    assert dataset_files(again.root) == files


# ---------------------------------------------------------------- kill -9


KILLED_WRITER = r"""
import datetime as dt, sys
from pathlib import Path
import celeb.database.records as database_records
import celeb.registry as registry_module
from celeb.database import DatabaseModels, database
from celeb.dataset import REJECTED, DatasetStore
from helpers import constant_bundle

url, work, photos, round_number = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
database_records.SNAPSHOT_EVERY = 3  # the snapshot rewritten, and the changes it holds dropped, often
registry_module.HISTORY_LIMIT = 3  # the history pruned on most activations
db = database(url)
store = DatasetStore(work / "dataset", database=db)
models = DatabaseModels(db, work / "models")
if "Ada" not in [person.name for person in store.people()]:
    store.add_person("Ada")
files = sorted(photos.iterdir())
print("ready", flush=True)
step = 0
while True:
    step += 1
    batch, files = files[:2], files[2:]
    if batch:
        store.add_photos("Ada", [(path.name, path.read_bytes(), "") for path in batch])
        print("photos", *(path.name for path in batch), flush=True)
        store.find_faces(engine="classic", workers=1)
        print("faces", flush=True)
    kept = store.crops("Ada", status="kept", engine="classic")
    if kept:
        store.set_status([kept[0].record.id], REJECTED)
        print("rejected", kept[0].record.id, flush=True)
    trained = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=1000 * round_number + step)
    print("model", models.activate(constant_bundle("Ann", when=trained.isoformat())).sha256, flush=True)
"""


def run_and_kill(args: list[str], lines: int, delay: float, stderr: Path) -> list[list[str]]:
    """Run a child (``python -c args...``), SIGKILL it ``delay`` seconds after it printed ``lines``
    lines; the lines it printed (split in words)."""
    with stderr.open("w") as errors:
        child = subprocess.Popen(
            [sys.executable, "-c", *args],
            cwd=PROJECT_ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    printed: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [printed.put(line) for line in child.stdout], daemon=True)
    reader.start()
    seen: list[list[str]] = []
    try:
        while len(seen) < lines:
            try:
                line = printed.get(timeout=90)
            except queue.Empty:
                pytest.fail(f"the child printed nothing for 90 s:\n{stderr.read_text()}")
            seen.append(line.split())
            if child.poll() is not None and printed.empty():
                break
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(timeout=10)
    while not printed.empty():
        seen.append(printed.get().split())  # what it printed before the signal landed
    assert child.returncode == -signal.SIGKILL, f"the child was not killed mid-way:\n{stderr.read_text()}"
    return seen


def check_whole(url: str, root: Path) -> tuple[dict[str, PersonRecord], set[str]]:
    """What a fresh store (a working folder of its own) reads must be whole: every photo and crop the
    records name has its file row with the right SHA-256, no file row is left that they do not name,
    and the models are each whole (model + its card) or not there. The records, and the SHA-256 of
    every model kept (active and history)."""
    records = DatasetStore(root / "dataset", database=database(url)).records()
    held = files_of(url)
    named = set()
    for person in records.values():
        for photo in person.photos.values():
            digest, data = held[photo.stored]
            assert digest == sha(data) == photo.sha, photo.stored
            assert (root / "dataset" / photo.stored).read_bytes() == data
            named.add(photo.stored)
        for crop_id in person.crops:
            key = f"{person.slug}/crops/{crop_id}.png"
            digest, data = held[key]
            assert digest == sha(data) and data.startswith(PNG), key
            assert (root / "dataset" / key).read_bytes() == data
            named.add(key)
    assert {key for key in held if not key.startswith(".cache/")} == named  # nothing half-made left

    models = files_of(url, "celeb_model_files")
    assert all(digest == sha(data) for digest, data in models.values())
    if "model.joblib" not in models:
        assert models == {}
        return records, set()
    card = json.loads(models["model.json"][1])
    assert card["sha256"] == models["model.joblib"][0]
    stems = {name.rsplit(".", 1)[0] for name in models if name.startswith("history/")}
    for stem in stems:
        assert json.loads(models[f"{stem}.json"][1])["sha256"] == models[f"{stem}.joblib"][0]
    view = DatabaseModels(database(url), root / "models")
    assert sha(view.active_bytes()) == card["sha256"]
    assert view.load_active().classes == ["Ann", "Zed"]
    return records, {card["sha256"]} | {models[f"{stem}.joblib"][0] for stem in stems}


def test_writers_killed_at_any_moment_leave_whole_changes(postgres_url: str, tmp_path: Path, make_photo):
    moments = [(2, 0.0), (6, 0.013), (11, 0.004)]  # (lines printed, then seconds)
    printed_photos: list[str] = []
    photo_shas: dict[str, str] = {}
    models_seen: set[str] = set()
    for number, (lines, delay) in enumerate(moments):
        photos = tmp_path / f"photos-{number}"
        photos.mkdir()
        for seed in range(6):
            data = make_photo("red", 100 * number + seed)
            (photos / f"{number}-{seed}.jpg").write_bytes(data)
            photo_shas[f"{number}-{seed}.jpg"] = sha(data)
        args = [KILLED_WRITER, postgres_url, str(tmp_path / "work"), str(photos), str(number)]
        seen = run_and_kill(args, lines + 1, delay, tmp_path / f"stderr-{number}")

        records, kept_models = check_whole(postgres_url, tmp_path / f"check-{number}")
        (ada,) = records.values()
        printed_photos += [name for words in seen if words[0] == "photos" for name in words[1:]]
        assert {photo_shas[name] for name in printed_photos} <= ada.photos.keys()  # what was said done is
        rejected = [words[1] for words in seen if words[0] == "rejected"]
        if rejected:
            assert ada.crops[rejected[-1]].status == REJECTED
        activated = [words[1] for words in seen if words[0] == "model"]
        if activated:
            assert activated[-1] in kept_models
        models_seen |= kept_models
        started = time.monotonic()  # no lock is left held by the killed process
        DatasetStore(tmp_path / f"check-{number}" / "dataset", database=database(postgres_url)).rename_person(
            "Ada", "Ada"
        )
        assert time.monotonic() - started < 10
    records, _ = check_whole(postgres_url, tmp_path / "check-last")
    (ada,) = records.values()
    assert len(ada.photos) >= 6 and len(ada.crops) >= 4 and len(models_seen) >= 3  # the kills were mid-work
    assert {crop.status for crop in ada.crops.values()} <= {KEPT, REJECTED}


# ---------------------------------------------------------------- two writers at once


def _writer(url: str, work: str, name: str, photos: list[bytes], minutes: int, barrier) -> None:
    """Run in another process: add ``name`` and a chosen face per photo, reject every other crop,
    activate a model every other photo, and read as the app's pages do in between."""
    registry_module.HISTORY_LIMIT = 100  # every model activated stays countable
    db = database(url)
    store = DatasetStore(Path(work) / "dataset", database=db)
    models = DatabaseModels(db, Path(work) / "models")
    barrier.wait(timeout=60)
    store.add_person(name)
    for index, data in enumerate(photos):
        crop_id = store.add_chosen_face(name, data, f"{index}.jpg", FACE_BOX, engine="classic")
        if index % 2:
            store.set_status([crop_id], REJECTED)
        else:
            models.activate(constant_bundle("Ann", when=when(minutes + index)))
        store.people(engine="classic")
        models.history()
        models.active_version()


def test_two_processes_writing_at_once_lose_nothing(postgres_url: str, tmp_path: Path, make_photo):
    count = 6
    people = {"Ada": ("red", 0, 0), "Bo": ("blue", 50, 1000)}  # tint, first seed, first minute
    photos = {
        name: [make_photo(tint, seed + index) for index in range(count)]
        for name, (tint, seed, _) in people.items()
    }
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    # One working folder for both, as store_location gives every process of one machine.
    work = str(tmp_path / "work")
    workers = [
        context.Process(target=_writer, args=(postgres_url, work, name, photos[name], minute, barrier))
        for name, (_, _, minute) in people.items()
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [worker.exitcode for worker in workers] == [0, 0]

    records, kept_models = check_whole(postgres_url, tmp_path / "check")
    store = DatasetStore(tmp_path / "check" / "dataset", database=database(postgres_url))
    assert [(p.name, p.photos, p.kept, p.rejected) for p in store.people(engine="classic")] == [
        ("Ada", count, count // 2, count // 2),
        ("Bo", count, count // 2, count // 2),
    ]
    for name, data in photos.items():
        person = next(p for p in records.values() if p.name == name)
        assert person.photos.keys() == {sha(photo) for photo in data}
    models = DatabaseModels(database(postgres_url), tmp_path / "check" / "models")
    trained = {models.load_active().trained_at} | {entry.trained_at for entry in models.history()}
    assert trained == {
        when(minute + index) for _, _, minute in people.values() for index in range(0, count, 2)
    }
    assert len(kept_models) == count  # 3 models each, none lost


# ---------------------------------------------------------------- secrets

USER, PASSWORD = "zaphod_celeb", "Pw-k3y9x2-s3cret"


@pytest.fixture(params=["nothing listening", "the server refuses"])
def refused_url(request: pytest.FixtureRequest) -> str:
    """A URL with a user name and a password that no server accepts."""
    if request.param == "nothing listening":
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/celebdb"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{server.port}/postgres"  # no such role


def assert_secret_free(text: str) -> None:
    assert PASSWORD not in text and USER not in text, text


def test_the_urls_user_and_password_are_never_shown(
    refused_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    location = store_location(refused_url)
    for text in (str(location), repr(location), location.shown(), f"{location}", repr([location])):
        assert_secret_free(text)
    assert location.shown().startswith("PostgreSQL 127.0.0.1:")
    expected = (
        f"the database ({location.shown()}) cannot be reached or refused the request (OperationalError); "
        "check its URL and that it is running"
    )
    for read in (lambda: location.open_dataset().people(), lambda: location.open_models().active_version()):
        with pytest.raises(StoreError) as info:
            read()
        assert str(info.value) == expected
        assert_secret_free("".join(traceback.format_exception(info.value)))  # what an error page shows

    monkeypatch.setenv("CELEB_DATABASE_URL", refused_url)
    assert main(["store", "where"]) == 0
    where = capsys.readouterr()
    assert where.out.startswith(f"database: {location.shown()}\n") and where.err == ""
    assert_secret_free(where.out)

    photo = tmp_path / "photo.png"
    photo.write_bytes(tiny_png(0))
    result = subprocess.run(
        [sys.executable, "-m", "celeb", "classify", str(photo)],
        cwd=PROJECT_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {expected}"]  # one line, no traceback
    assert_secret_free(result.stdout + result.stderr)


# ---------------------------------------------------------------- store copy


@pytest.fixture
def source(template_root: Path, tmp_path: Path) -> Path:
    """A folder store: the template dataset (8 photos, 8 crops) and two models (one in history)."""
    shutil.copytree(template_root, tmp_path / "src" / "dataset")
    models = ModelRegistry(tmp_path / "src" / "models")
    models.activate(constant_bundle("Ann", when=when(0)))
    models.activate(constant_bundle("Zed", when=when(1)))
    return tmp_path / "src" / "dataset"


def test_store_copy_from_a_folder_to_a_database_and_back(source: Path, postgres_url: str, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "celeb", "store", "copy", str(source), postgres_url],
        cwd=PROJECT_ROOT,
        env=child_env(CELEB_WORK_DIR=str(tmp_path / "cli-work")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    location = store_location(postgres_url)
    assert result.stdout.splitlines() == [
        "copied 2 people, 8 photos; 16 files copied, 0 already there; 4 model files "
        f"from the folders {source} and {source.parent / 'models'} to {location.shown()}"
    ]
    originals, models = dataset_files(source), model_files(source.parent / "models")
    assert len(originals) == 16 and len(models) == 4
    held = files_of(postgres_url)
    assert {key: data for key, (_, data) in held.items()} == originals
    assert all(digest == sha(data) for digest, data in held.values())
    assert {name: data for name, (_, data) in files_of(postgres_url, "celeb_model_files").items()} == models
    source_records = manifest_text(DatasetStore(source, read_only=True).records())

    # Back into a folder, from a working copy this process fills from the database.
    assert not location.dataset.exists()
    report = copy_store(location, location_of(str(tmp_path / "back")))
    assert report.problems == [] and (report.files_copied, report.model_files) == (16, 4)
    back = tmp_path / "back" / "dataset"
    assert manifest_text(DatasetStore(back).records()) == source_records
    assert dataset_files(back) == originals
    assert model_files(tmp_path / "back" / "models") == models
    assert ModelRegistry(tmp_path / "back" / "models").load_active().trained_at == when(1)

    # A copy done already: nothing to write again.
    again = copy_store(location_of(str(source)), location)
    assert again.problems == [] and (again.files_copied, again.files_already_there) == (0, 16)


KILLED_COPY = r"""
import sys
import celeb.cli as cli
import celeb.store_copy as store_copy
store_copy.COPY_BATCH_FILES = 2
cli.progress_printer = lambda what: lambda done, total: print(what, done, total, flush=True)
sys.exit(cli.main(["store", "copy", *sys.argv[1:]]))
"""


def test_an_interrupted_store_copy_resumes(source: Path, postgres_url: str, tmp_path: Path):
    seen = run_and_kill([KILLED_COPY, str(source), postgres_url], 3, 0.0, tmp_path / "stderr")
    assert seen[:3] == [["copying", "2", "16"], ["copying", "4", "16"], ["copying", "6", "16"]]
    rows = rows_of(postgres_url)
    assert rows["celeb_changes"] == rows["celeb_snapshot"] == []  # no records before every file is in
    copied_before = len(rows["celeb_files"])
    assert 6 <= copied_before < 16

    # Resumed with one crop unreadable in SRC: it is named, and still no records name missing files.
    location = store_location(postgres_url)
    crop = next(source.glob("*/crops/*.png"))
    crop_bytes = crop.read_bytes()
    crop.unlink()
    crop.mkdir()  # a path that cannot be read as a file (the tests may run as root: no chmod)
    report = copy_store(location_of(str(source)), location)
    key = crop.relative_to(source).as_posix()
    assert report.problems == [
        f"{key}: cannot be read in SRC (Is a directory)",
        "the records were not copied: copy again once every file can be read",
    ]
    assert report.files_already_there == copied_before
    assert report.files_copied == 15 - copied_before
    rows = rows_of(postgres_url)
    assert rows["celeb_changes"] == rows["celeb_snapshot"] == []
    assert len(rows["celeb_files"]) == 15

    crop.rmdir()
    crop.write_bytes(crop_bytes)
    report = copy_store(location_of(str(source)), location)
    assert report.problems == []
    assert (report.files_copied, report.files_already_there) == (1, 15)
    check_whole(postgres_url, tmp_path / "check")
    view = DatasetStore(tmp_path / "check" / "dataset", database=database(postgres_url))
    assert manifest_text(view.records()) == manifest_text(DatasetStore(source, read_only=True).records())
    assert {name: data for name, (_, data) in files_of(postgres_url, "celeb_model_files").items()} == (
        model_files(source.parent / "models")
    )


def test_store_copy_refuses_a_store_that_holds_another_dataset(
    source: Path, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
):
    DatasetStore(tmp_path / "other", database=database(postgres_url)).add_person("Zed")
    before = rows_of(postgres_url)
    assert main(["store", "copy", str(source), postgres_url]) == 1
    refused = "error: DEST already holds another dataset (or a changed one): copy into an empty store\n"
    assert capsys.readouterr().err == refused
    assert rows_of(postgres_url) == before

    # A folder that holds another dataset is refused as well, and left as it was.
    other = tmp_path / "other-folder" / "dataset"
    DatasetStore(other).add_person("Zed")
    manifest_before = (other / "manifest.json").read_bytes()
    assert main(["store", "copy", str(source), str(other)]) == 1
    assert capsys.readouterr().err == refused
    assert (other / "manifest.json").read_bytes() == manifest_before


def test_the_cli_trains_into_and_classifies_with_the_database(
    source: Path, postgres_url: str, tmp_path: Path, make_photo
):
    """With CELEB_DATABASE_URL set, `train` (no DATASET_DIR) trains on the database's dataset and
    makes its model the database's active one; `classify` then answers with that model."""
    env = child_env(CELEB_DATABASE_URL=postgres_url, CELEB_WORK_DIR=str(tmp_path / "cli-work"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "celeb", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert cli("store", "copy", str(source), postgres_url).returncode == 0
    location = store_location(postgres_url)
    before = location.open_models(read_only=True).active_info()
    # A fifth photo each, added by this process; `train` finds their faces (5 photos a person).
    added = location.open_dataset()
    assert added.add_photo("Ada", make_photo("red", 4), "ada 5.jpg").added
    assert added.add_photo("Bo", make_photo("blue", 14), "bo 5.jpg").added
    trained = cli("train", "--engine", "classic", "--models", "logistic_regression", "--folds", "2")
    assert trained.returncode == 0, trained.stderr
    assert f"model saved as the active one in {location.shown()}" in trained.stdout
    # Another process's view (a working folder of its own): the new model, the old one in history.
    elsewhere = DatabaseModels(database(postgres_url), tmp_path / "elsewhere")
    info = elsewhere.active_info()
    assert info.sha256 != before.sha256 and sorted(info.classes) == ["Ada", "Bo"]
    assert before.sha256 in {entry.sha256 for entry in elsewhere.history()}
    photo = tmp_path / "ada.jpg"
    photo.write_bytes(make_photo("red", 99))
    answered = cli("classify", "--json", str(photo))
    assert answered.returncode == 0, answered.stderr
    (face,) = json.loads(answered.stdout)["faces"]
    assert set(face["probabilities"]) == {"Ada", "Bo"}  # the database's model, not the folder's
