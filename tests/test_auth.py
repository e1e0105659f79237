"""Tests for celeb.auth: owner password hashes, the hash-password command, the guess limiter."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from celeb import cli
from celeb.auth import AttemptLimiter, CheckQueue, PasswordGuard, hash_password, verify_password
from celeb.errors import PasswordError

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
    comment, table, line = result.stdout.splitlines()  # a TOML entry to paste as it is
    assert comment.startswith("# ") and table == "[celeb]"
    assert re.fullmatch(r'owner_password_hash = "scrypt\$[^"]+"', line)
    stored = line.split("=", 1)[1].strip().strip('"')
    assert verify_password("correct horse battery staple", stored)
    assert "correct horse" not in result.stdout


def test_hash_password_command_refuses_a_short_password(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert cli.main(["hash-password"]) == 1
    out, err = capsys.readouterr()
    assert "at least 10 characters" in err
    assert out == ""  # no hash, no secrets entry


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
