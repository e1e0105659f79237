"""Tests for celeb.limits: classifications running at once (slots), large buffers given back."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from celeb.limits import Slots


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
