"""Limits on work running at once, so that a busy server queues instead of running out of memory."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def usable_cores() -> int:
    """CPU cores this process may run on (the container's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Slots:
    """At most ``size`` holders at once; the others wait, first come first served.

    >>> slots = Slots(1)
    >>> with slots.hold():
    ...     slots.busy
    1
    >>> slots.busy, slots.waiting
    (0, 0)
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._condition = threading.Condition()
        self._busy = 0
        self._queue: list[object] = []

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextmanager
    def hold(self, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold a slot for the ``with`` block.

        When every slot is busy, ``on_wait(place)`` is called once (place 1 is
        next in line) before waiting; it must not block.
        """
        ticket = object()
        with self._condition:
            if self._busy < self.size and not self._queue:
                self._busy += 1
                place = 0
            else:
                self._queue.append(ticket)
                place = len(self._queue)
        if place:
            try:
                if on_wait is not None:
                    on_wait(place)  # may raise (a page's rerun signal): the place must not stay taken
                with self._condition:
                    self._condition.wait_for(lambda: self._queue[0] is ticket and self._busy < self.size)
                    self._busy += 1
            finally:
                with self._condition:
                    self._queue.remove(ticket)
                    self._condition.notify_all()
        try:
            yield
        finally:
            with self._condition:
                self._busy -= 1
                self._condition.notify_all()


def return_large_buffers_to_the_system(threshold: int = 1 << 20) -> bool:
    """Have glibc's malloc serve buffers of ``threshold`` bytes and more by mmap; True when it did.

    By default glibc raises that threshold each time such a buffer is freed,
    up to 32 MB, so the uploads, decoded photos and their copies of a busy
    server soon come from heaps that keep their pages after use: one per
    thread arena, and Streamlit runs every script run on a new thread. A fixed
    threshold hands each large buffer back when it is freed. A no-op off glibc.
    """
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, threshold))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False
