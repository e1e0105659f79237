"""Safe publishing in the engine and the role rules: passwords, guess limits, read-only folders, slots."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from celeb import cli
from celeb.auth import AttemptLimiter, CheckQueue, PasswordGuard, hash_password, verify_password
from celeb.dataset import REJECTED, DatasetStore
from celeb.errors import PasswordError, ReadOnlyError
from celeb.limits import Slots
from celeb.registry import ModelRegistry
from celeb_app.access import AccessSettings, Connection, Role, decide

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- passwords


def test_a_hash_checks_its_password_only():
    stored = hash_password("correct horse battery staple")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not verify_password("", stored)
    assert "correct" not in stored


def test_two_hashes_of_one_password_differ_by_their_salt():
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second
    assert all(verify_password("correct horse battery", stored) for stored in (first, second))


def test_django_style_pbkdf2_hashes_are_accepted():
    digest = hashlib.pbkdf2_hmac("sha256", b"an old password", b"somesalt", 100_000)
    stored = f"pbkdf2_sha256$100000$somesalt${base64.b64encode(digest).decode()}"
    assert verify_password("an old password", stored)
    assert not verify_password("another password", stored)


@pytest.mark.parametrize("password", ["short", "x" * 9])
def test_short_passwords_are_refused_when_hashing(password):
    with pytest.raises(PasswordError, match="at least 10 characters"):
        hash_password(password)


@pytest.mark.parametrize(
    "stored",
    ["", "plain", "scrypt$16384$8$1$salt", "md5$abc$def", "scrypt$3$8$1$c2FsdA$aGFzaA", "scrypt$x$8$1$a$b"],
)
def test_a_malformed_stored_hash_is_reported_not_accepted(stored):
    with pytest.raises(PasswordError, match="hash-password"):
        verify_password("anything at all", stored)


def test_an_absurdly_long_password_is_just_wrong():
    stored = hash_password("correct horse battery")
    assert not verify_password("x" * 100_000, stored)


def test_hash_password_command_prints_a_secrets_entry_that_verifies():
    result = subprocess.run(
        [sys.executable, "-m", "celeb", "hash-password"],
        input="correct horse battery staple\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[celeb]" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("owner_password_hash"))
    stored = line.split("=", 1)[1].strip().strip('"')
    assert verify_password("correct horse battery staple", stored)
    assert "correct horse" not in result.stdout


def test_hash_password_command_refuses_a_short_password(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert cli.main(["hash-password"]) == 1
    assert "at least 10 characters" in capsys.readouterr().err


# ---------------------------------------------------------------- guessing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_passwords_in_a_row_wait_longer_and_longer():
    clock = Clock()
    limiter = AttemptLimiter(base=1.0, cap=8.0, clock=clock)
    waits = []
    for _ in range(6):
        assert limiter.begin("tab") == 0.0  # a try that turns out wrong
        waits.append(limiter.retry_after("tab"))
        clock.now += waits[-1]
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert limiter.retry_after("other tab") == 0.0


def test_a_right_password_ends_the_streak():
    clock = Clock()
    limiter = AttemptLimiter(clock=clock)
    limiter.begin("tab")
    clock.now += 1
    limiter.begin("tab")
    assert limiter.retry_after("tab") > 0
    limiter.succeeded("tab")
    assert limiter.retry_after("tab") == 0.0


def test_fresh_sessions_are_not_locked_out_by_other_sessions_guessing():
    clock = Clock()
    limiter = AttemptLimiter(clock=clock)
    for tab in range(100):  # a new session for every guess: each gets its try...
        assert limiter.begin(f"tab {tab}") == 0.0
        clock.now += 0.1
    # ...and so does the owner's: the guess rate over all sessions is CheckQueue's to bound.
    assert limiter.retry_after("the owner's tab") == 0.0


def test_the_owner_gets_in_within_seconds_while_fresh_sessions_guess_as_fast_as_allowed():
    # The old overall window (30 wrong passwords per 5 minutes) made the right password
    # wait 265 s after 30 quick guesses; now checks queue, so it waits seconds.
    stored = hash_password("the owner's own password")
    queue = CheckQueue()
    guard = PasswordGuard(queue=queue)
    stop = threading.Event()
    started_checks: list[float] = []
    lock = threading.Lock()

    def guesser(number: int) -> None:
        for guess in range(10_000):
            if stop.is_set():
                return
            # A fresh session for every guess dodges the per-session wait, as an attacker would.
            outcome = guard.attempt(f"attacker {number}/{guess}", f"guess {number}/{guess}", stored)
            assert outcome.checked and not outcome.right
            with lock:
                started_checks.append(time.monotonic())

    guessers = [threading.Thread(target=guesser, args=(n,), daemon=True) for n in range(6)]
    flood_began = time.monotonic()
    for thread in guessers:
        thread.start()
    time.sleep(2.0)  # the queue is full of guesses by now
    asked = time.monotonic()
    outcome = guard.attempt("the owner's tab", "the owner's own password", stored)
    waited = time.monotonic() - asked
    stop.set()
    for thread in guessers:
        thread.join(10)
    flood = time.monotonic() - flood_began
    assert outcome.right and outcome.checked
    assert waited < 5.0, f"the right password waited {waited:.1f} s"
    # Guessing stays bounded: about one check per interval, whatever the number of sessions.
    assert len(started_checks) >= 5, "the guessers never got to guess"
    assert len(started_checks) <= flood / queue.interval + queue.at_once + 1


def test_password_checks_run_two_at_a_time_in_arrival_order():
    queue = CheckQueue(at_once=2, interval=0.0)
    running, most, order = 0, 0, []
    lock = threading.Lock()
    first_in = threading.Event()
    hold = threading.Event()

    def check(number: int) -> None:
        nonlocal running, most
        with queue.turn():
            with lock:
                running += 1
                most = max(most, running)
                order.append(number)
            first_in.set()
            hold.wait(5)
            with lock:
                running -= 1

    threads = []
    for number in range(8):
        threads.append(threading.Thread(target=check, args=(number,)))
        threads[-1].start()
        if number == 0:
            assert first_in.wait(5)
        time.sleep(0.02)  # arrive one after another
    hold.set()
    for thread in threads:
        thread.join(5)
    assert most == 2
    assert order == list(range(8))


def test_a_try_given_up_while_queued_does_not_block_the_ones_behind_it():
    queue = CheckQueue(at_once=1, interval=0.0)
    inside = threading.Event()
    hold = threading.Event()

    def long_check() -> None:
        with queue.turn():
            inside.set()
            hold.wait(5)

    threading.Thread(target=long_check).start()
    assert inside.wait(5)

    class GivenUp(Exception):
        pass

    def give_up(*_: object) -> bool:
        raise GivenUp  # as a thread interrupted while it waits

    real_wait = queue._changed.wait
    queue._changed.wait = give_up
    with pytest.raises(GivenUp), queue.turn():
        pass
    queue._changed.wait = real_wait
    hold.set()
    done = threading.Event()
    threading.Thread(target=lambda: (queue.turn().__enter__(), done.set()), daemon=True).start()
    assert done.wait(5), "the next try never got its turn"


# ---------------------------------------------------------------- read-only folders


@pytest.fixture
def store_with_a_crop(tmp_path, make_photo) -> DatasetStore:
    """Ann with one crop of the classic engine, whose features are computed at training, not cropping."""
    store = DatasetStore(tmp_path / "dataset")
    store.add_person("Ann")
    store.add_photo("Ann", make_photo("red", 1), "ann.jpg")
    store.find_faces(engine="classic")
    assert store.crops("Ann", engine="classic")
    return store


def test_a_read_only_store_refuses_every_change_and_writes_nothing(store_with_a_crop, make_photo):
    root = store_with_a_crop.root
    before = {path: path.stat().st_mtime_ns for path in root.rglob("*")}
    manifest = (root / "manifest.json").read_bytes()
    crop_id = store_with_a_crop.crops("Ann", engine="classic")[0].record.id
    visitor = DatasetStore(root, read_only=True)
    changes = [
        lambda: visitor.add_person("Bob"),
        lambda: visitor.rename_person("Ann", "Anna"),
        lambda: visitor.delete_person("Ann"),
        lambda: visitor.add_photo("Ann", make_photo("red", 2), "more.jpg"),
        lambda: visitor.add_zip("Ann", b"PK\x05\x06" + bytes(18)),
        lambda: visitor.find_faces(engine="classic"),
        lambda: visitor.set_status([crop_id], REJECTED),
    ]
    for change in changes:
        with pytest.raises(ReadOnlyError, match="only its owner can change it"):
            change()
    assert (root / "manifest.json").read_bytes() == manifest
    assert {path: path.stat().st_mtime_ns for path in root.rglob("*")} == before
    # Reading, exporting and computing training features still work.
    assert [p.name for p in visitor.people()] == ["Ann"]
    assert visitor.export_zip()
    data, ids = visitor.training_set(visitor.engine("classic"))
    assert ids == [crop_id] and len(data.features) == 2  # the crop and its mirrored copy


def test_a_read_only_store_does_not_create_its_folder(tmp_path):
    visitor = DatasetStore(tmp_path / "nowhere", read_only=True)
    assert visitor.people() == []
    assert not (tmp_path / "nowhere").exists()


def test_a_read_only_registry_refuses_every_change(tmp_path):
    from app_helpers import tiny_bundle

    owner = ModelRegistry(tmp_path / "models")
    owner.activate(tiny_bundle(seed=1))
    owner.activate(tiny_bundle(seed=2))
    earlier = owner.history()[0].id
    active = owner.active_path.read_bytes()
    visitor = ModelRegistry(tmp_path / "models", read_only=True)
    for change in (
        lambda: visitor.activate(tiny_bundle(seed=3)),
        lambda: visitor.restore(earlier),
        lambda: visitor.delete(earlier),
    ):
        with pytest.raises(ReadOnlyError, match="only its owner"):
            change()
    assert owner.active_path.read_bytes() == active
    assert [info.id for info in owner.history()] == [earlier]
    assert visitor.load_active().classes == ["Ann", "Bob"]


# ---------------------------------------------------------------- who is the owner


LOCAL = Connection(None, frozenset({"host", "user-agent"}))


@pytest.mark.parametrize(
    ("connection", "owner"),
    [
        (LOCAL, True),
        (Connection("127.0.0.1", frozenset()), True),
        (Connection("::1", frozenset()), True),
        # A dual-stack server sees a browser at 127.0.0.1 as an IPv4-mapped address.
        (Connection("::ffff:127.0.0.1", frozenset(), "127.0.0.1"), True),
        (Connection("::ffff:127.0.0.1", frozenset({"x-forwarded-for"}), "127.0.0.1"), False),
        (Connection("::ffff:203.0.113.9", frozenset()), False),
        (Connection(None, frozenset({"x-forwarded-for"})), False),
        (Connection(None, frozenset({"forwarded"})), False),
        (Connection("127.0.0.1", frozenset({"x-real-ip"})), False),
        (Connection("203.0.113.9", frozenset()), False),
        (Connection("192.168.1.20", frozenset()), False),
        (Connection("unknown", frozenset()), False),
    ],
)
def test_only_a_direct_loopback_connection_is_the_owner_by_default(connection, owner):
    assert decide(connection, AccessSettings()).owner is owner


def test_loopback_owner_can_be_turned_off_and_is_off_on_the_cloud():
    assert decide(LOCAL, AccessSettings(local_owner=False)).role is Role.VISITOR
    assert decide(LOCAL, AccessSettings(), cloud=True).role is Role.VISITOR


def test_nobody_is_owner_by_connection_while_the_agent_api_is_on():
    # Agent sessions carry no address: from anywhere they would look like LOCAL.
    assert decide(LOCAL, AccessSettings(), agent_api=True).role is Role.VISITOR
    unlocked = decide(LOCAL, AccessSettings(password_hash="scrypt$..."), unlocked=True, agent_api=True)
    assert unlocked.owner  # the password still unlocks


def test_an_unlocked_session_is_owner_only_while_a_password_is_set():
    remote = Connection("203.0.113.9", frozenset({"x-forwarded-for"}))
    assert decide(remote, AccessSettings(password_hash="scrypt$..."), unlocked=True).owner
    assert not decide(remote, AccessSettings(password_hash=""), unlocked=True).owner


def test_a_logged_in_owner_email_is_the_owner_and_others_are_not():
    remote = Connection("203.0.113.9", frozenset({"x-forwarded-for"}))
    settings = AccessSettings(owner_emails=frozenset({"me@example.org"}), login_configured=True)
    assert decide(remote, settings, email="Me@Example.org").owner
    assert not decide(remote, settings, email="someone@example.org").owner


def test_settings_from_secrets():
    settings = AccessSettings.from_secrets(
        {
            "celeb": {"owner_password_hash": " scrypt$x ", "owner_emails": ["A@b.org"], "local_owner": False},
            "auth": {"redirect_uri": "https://x/oauth2callback"},
        }
    )
    assert settings == AccessSettings("scrypt$x", frozenset({"a@b.org"}), False, True)
    assert AccessSettings.from_secrets({}) == AccessSettings()


# ---------------------------------------------------------------- slots


def test_slots_let_size_holders_run_and_queue_the_rest_in_order():
    slots = Slots(2)
    release = threading.Event()
    running, most, order, places = [0], [0], [], []
    lock = threading.Lock()

    def work(number: int) -> None:
        with slots.hold(on_wait=places.append):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
                order.append(number)
            release.wait(5)
            with lock:
                running[0] -= 1

    threads = []
    for number in range(5):
        thread = threading.Thread(target=work, args=(number,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while len(order) + slots.waiting < number + 1 and time.monotonic() < deadline:
            time.sleep(0.005)  # let each thread take its place in line before the next starts
    assert slots.busy == 2 and slots.waiting == 3
    release.set()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2
    assert order == [0, 1, 2, 3, 4]
    assert places == [1, 2, 3]
    assert slots.busy == 0 and slots.waiting == 0


def test_a_slot_is_given_back_when_the_work_fails():
    slots = Slots(1)
    with pytest.raises(RuntimeError), slots.hold():
        raise RuntimeError("boom")
    assert slots.busy == 0
    with slots.hold():
        assert slots.busy == 1


def test_cli_text_shows_control_characters_literally():
    assert cli.terminal_text("Ann\x1b[2J\x07") == "Ann\\x1b[2J\\x07"
    assert cli.terminal_text("<img src=x onerror=alert(1)>") == "<img src=x onerror=alert(1)>"
    assert cli.terminal_text(np.str_("Đoković")) == "Đoković"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_large_buffers_go_back_to_the_system_on_glibc():
    # In a fresh process: a 4 MB buffer comes from a heap that keeps its pages (glibc raised its
    # threshold when a 16 MB one was freed), until the threshold is fixed at 1 MB. (Each probe is
    # larger than the last: a freed buffer's space stays at the top of the heap for the next.)
    from app_helpers import MMAP_PROBE

    script = MMAP_PROBE + (
        "from celeb.limits import return_large_buffers_to_the_system\n"
        "before = mapped(4 << 20)\n"
        "done = return_large_buffers_to_the_system()\n"
        "print(before, done, mapped(6 << 20))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    before, done, after = out.stdout.split()
    assert before == "False"  # the default: this buffer's pages would stay with the process
    assert done == "True"
    assert after == "True"  # by mmap: its pages go back to the system when it is freed


def test_a_waiter_that_gives_up_does_not_block_the_line():
    slots = Slots(1)

    def give_up(place: int) -> None:
        raise KeyboardInterrupt  # as a page's rerun signal would, while it says "queued"

    with slots.hold():
        with pytest.raises(KeyboardInterrupt), slots.hold(on_wait=give_up):
            pass
        assert slots.waiting == 0
    done = threading.Event()
    threading.Thread(target=lambda: (slots.hold().__enter__(), done.set()), daemon=True).start()
    assert done.wait(5), "the next one in line never got its slot"


def test_a_page_rebound_to_loopback_under_another_name_is_a_visitor():
    # DNS rebinding: evil.example resolves to 127.0.0.1, so the connection is loopback,
    # but the Host header still names evil.example.
    rebound = Connection(None, frozenset({"host"}), host="evil.example")
    assert decide(rebound, AccessSettings()).role is Role.VISITOR
    for name in ("localhost", "127.0.0.1", "::1"):
        assert decide(Connection(None, frozenset({"host"}), host=name), AccessSettings()).owner


def test_many_tries_at_once_from_one_session_cannot_all_pass_the_limiter():
    limiter = AttemptLimiter()
    passed = []
    barrier = threading.Barrier(40)

    def attempt(number: int) -> None:
        barrier.wait()
        if limiter.begin("one tab") == 0.0:
            passed.append(number)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(passed) == 1
