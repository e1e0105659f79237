"""The owner's password: salted hashes, constant-time checks, slowed-down guessing.

Only a hash is ever stored (in Streamlit secrets for the app); it is made by
``python -m celeb hash-password`` with the standard library's scrypt.
PBKDF2-SHA256 hashes (Django's format) are accepted too, for owners who
already have one.

>>> stored = hash_password("correct horse battery staple")
>>> stored.startswith("scrypt$")
True
>>> verify_password("correct horse battery staple", stored)
True
>>> verify_password("Correct horse battery staple", stored)
False
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .config import PASSWORD_CHECK_INTERVAL, PASSWORD_CHECKS_AT_ONCE, PASSWORD_WAIT_BASE, PASSWORD_WAIT_CAP
from .errors import PasswordError

#: scrypt cost: about 50 ms and 16 MB per check, cheap for the owner, dear for a guesser.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: Passwords shorter than this are refused when hashing: the hash would not protect them.
MIN_PASSWORD_LENGTH = 10
#: Longest password checked; anything longer is a wrong password without hashing it.
MAX_PASSWORD_LENGTH = 1024


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$n$r$p$salt$hash`` (base64 parts)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a hash from :func:`hash_password`, or PBKDF2).

    Raises :class:`PasswordError` when ``stored`` is not a hash we know, so a
    misconfigured secret is reported instead of locking the owner out silently.
    """
    parts = stored.strip().split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(value) for value in parts[1:4])
            salt, expected = _unb64(parts[4]), _unb64(parts[5])
            if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
                raise ValueError("cost parameters out of range")

            def compute(secret: bytes) -> bytes:
                return _scrypt(secret, salt, n, r, p, len(expected))

        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations, salt_text, expected = int(parts[1]), parts[2], _unb64(parts[3])
            if not 10_000 <= iterations <= 10_000_000:
                raise ValueError("iterations out of range")

            def compute(secret: bytes) -> bytes:
                return hashlib.pbkdf2_hmac("sha256", secret, salt_text.encode(), iterations, len(expected))

        else:
            raise ValueError("unknown scheme")
    except ValueError as exc:
        raise PasswordError(
            "the stored owner password hash is not one this app can check "
            f"({exc}); make a new one with `python -m celeb hash-password`"
        ) from exc
    secret = password.encode("utf-8")
    if len(secret) > MAX_PASSWORD_LENGTH * 4:
        compute(b"")  # same cost as a real check, so length does not show in the timing
        return False
    return hmac.compare_digest(compute(secret), expected)


def _scrypt(secret: str | bytes, salt: bytes, n: int, r: int, p: int, length: int = 32) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r + 2**20)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a part is not base64") from exc


class AttemptLimiter:
    """Slows down password guessing in each session.

    After a session's k-th wrong password in a row it must wait
    ``min(base * 2**(k-1), cap)`` seconds before the next try. There is no
    lock-out over all sessions: an attacker who opens a fresh session for
    every guess could hold it against the owner. :class:`CheckQueue` bounds the
    guess rate over all sessions instead, by queueing checks, never refusing them.
    Thread-safe: one limiter serves every session of the app.

    >>> clock = iter([0.0, 0.0, 0.5, 2.0]).__next__
    >>> limiter = AttemptLimiter(clock=clock)
    >>> limiter.begin("tab-1")  # may go ahead, and counts as wrong until succeeded()
    0.0
    >>> limiter.retry_after("tab-1"), limiter.retry_after("tab-2")
    (1.0, 0.0)
    >>> limiter.retry_after("tab-1")
    0.0
    """

    def __init__(
        self,
        base: float = PASSWORD_WAIT_BASE,
        cap: float = PASSWORD_WAIT_CAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base, self.cap = base, cap
        self._clock = clock
        self._lock = threading.Lock()
        self._streaks: dict[str, tuple[int, float]] = {}  # key -> (wrong in a row, time of the last)

    def retry_after(self, key: str) -> float:
        """Seconds ``key`` must still wait before its next try (0.0: it may try now)."""
        with self._lock:
            return self._wait(key, self._clock())

    def _wait(self, key: str, now: float) -> float:
        count, last = self._streaks.get(key, (0, now))
        if not count:
            return 0.0
        return round(max(last + min(self.base * 2 ** (count - 1), self.cap) - now, 0.0), 1)

    def begin(self, key: str) -> float:
        """Start a try for ``key``: 0.0 when it may go ahead (it is then counted as wrong until
        :meth:`succeeded`), else the seconds to wait (and nothing is counted).

        Checking and counting in one step means many tries at once from one session cannot all pass.
        """
        with self._lock:
            now = self._clock()
            wait = self._wait(key, now)
            if wait > 0:
                return wait
            count, _ = self._streaks.get(key, (0, now))
            self._streaks[key] = (count + 1, now)
            if len(self._streaks) > 10_000:  # sessions that never came back
                self._streaks = dict(list(self._streaks.items())[-5_000:])
            return 0.0

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s wrong streak."""
        with self._lock:
            self._streaks.pop(key, None)


class CheckQueue:
    """Password checks over all sessions, in arrival order: at most ``at_once`` running, and
    one started per ``interval`` seconds at most.

    This bounds guessing however many sessions an attacker opens (each check
    costs scrypt's time and memory), yet never refuses a try: a right password
    waits only for the tries that arrived before it, not for a window to clear.
    Served strictly first come, first served (a plain semaphore lets a thread that
    just released it take it again, so a busy guesser could keep others waiting).
    """

    def __init__(
        self, at_once: int = PASSWORD_CHECKS_AT_ONCE, interval: float = PASSWORD_CHECK_INTERVAL
    ) -> None:
        self.at_once, self.interval = at_once, interval
        self._changed = threading.Condition()
        self._waiting: deque[object] = deque()  # one ticket per try, oldest first
        self._running = 0
        self._next_start = 0.0  # time.monotonic() when the next check may start

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this try's turn, then hold one of the ``at_once`` places while checking."""
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
            try:
                while True:
                    if self._waiting[0] is ticket and self._running < self.at_once:
                        delay = self._next_start - time.monotonic()
                        if delay <= 0:
                            break
                        self._changed.wait(delay)
                    else:
                        self._changed.wait()
            except BaseException:  # a try given up while waiting must not block the ones behind it
                self._waiting.remove(ticket)
                self._changed.notify_all()
                raise
            self._waiting.popleft()
            self._running += 1
            self._next_start = time.monotonic() + self.interval
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()


@dataclass(frozen=True)
class Attempt:
    """What became of one password try."""

    right: bool
    wait: float  # seconds before this session's next try (0.0 after a right password)
    checked: bool = True  # False: refused unchecked, the session had to wait ``wait`` s more


class PasswordGuard:
    """Password tries of every session: per-session waits, then a fair, bounded check.

    >>> stored = hash_password("correct horse battery staple")
    >>> guard = PasswordGuard()
    >>> wrong = guard.attempt("tab", "a wrong guess", stored)
    >>> wrong.right, wrong.checked, 0 < wrong.wait <= 1
    (False, True, True)
    >>> guard.attempt("tab", "correct horse battery staple", stored).checked  # too soon
    False
    >>> guard.attempt("another tab", "correct horse battery staple", stored).right
    True
    """

    def __init__(self, limiter: AttemptLimiter | None = None, queue: CheckQueue | None = None) -> None:
        self.limiter = limiter or AttemptLimiter()
        self.queue = queue or CheckQueue()

    def attempt(self, key: str, password: str, stored: str) -> Attempt:
        """Check ``password`` for the session ``key`` against the hash ``stored``."""
        # The try is counted as wrong before it is checked, so that many at once cannot all pass.
        wait = self.limiter.begin(key)
        if wait > 0:
            return Attempt(right=False, wait=wait, checked=False)
        with self.queue.turn():
            right = verify_password(password, stored)
        if right:
            self.limiter.succeeded(key)
            return Attempt(right=True, wait=0.0)
        return Attempt(right=False, wait=self.limiter.retry_after(key))
