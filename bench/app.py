"""App figures in a real browser: first render, a 12 MP photo's answer, memory.

    python bench/app.py

Starts ``streamlit run app.py`` on 127.0.0.1 with the shipped model (and an
empty temporary dataset), drives Debian's chromium through Playwright, and
prints:

- seconds from the server process's start to the Classify page's title;
- seconds from dropping a 12-megapixel JPEG to its first face's answer
  (median of 3 fresh page loads);
- the server's resident memory after 20 shared photos were classified.

Targets (issue #3): <= 3 s, <= 1.5 s, < 400 MB. Linux only (reads /proc).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Browser, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from celeb.config import IMAGE_SUFFIXES, paths  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
ANSWER = r"^Face 1: "


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    for process in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


def twelve_megapixels(folder: Path) -> Path:
    source = next(p for p in sorted((paths().shared_photos / "raw" / "serena_williams").iterdir()))
    image = Image.open(source).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
    path = folder / "twelve-megapixels.jpg"
    image.save(path, quality=90)
    return path


def main() -> int:
    raw = paths().shared_photos / "raw"
    if not raw.is_dir():
        print(f"the shared photo set is not at {raw}: set CELEB_SHARED_PHOTOS", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="celeb-bench-app-") as scratch:
        scratch = Path(scratch)
        models = scratch / "models"
        models.mkdir()
        shutil.copy(ROOT / "models" / "model.joblib", models / "model.joblib")
        big = twelve_megapixels(scratch)
        photos = sorted(p for p in raw.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        twenty = [photos[i] for i in np.linspace(0, len(photos) - 1, 20).astype(int)]
        port = free_port()
        env = {**os.environ, "CELEB_DATASET_DIR": str(scratch / "dataset"), "CELEB_MODELS_DIR": str(models)}
        # The browser starts first: its own start-up is not the app's.
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        started = time.perf_counter()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            figures = measure(browser, url, started, big, twenty, server.pid)
        finally:
            browser.close()
            playwright.stop()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    report(figures)
    return 0


def wait_for_server(url: str, deadline: float) -> None:
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the app did not start within 60 s")


def measure(browser: Browser, url: str, started: float, big: Path, twenty: list[Path], pid: int) -> dict:
    wait_for_server(url, started + 60)
    health = time.perf_counter() - started
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    expect(page.get_by_role("heading", name="Who is this?")).to_be_visible(timeout=60_000)
    first_render = time.perf_counter() - started

    answers = []
    for _ in range(3):
        page.goto(url)
        expect(page.get_by_role("heading", name="Who is this?")).to_be_visible(timeout=60_000)
        dropped = time.perf_counter()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(big))
        expect(page.get_by_text(re.compile(ANSWER)).first).to_be_visible(timeout=60_000)
        answers.append(time.perf_counter() - dropped)

    page.goto(url)
    expect(page.get_by_role("heading", name="Who is this?")).to_be_visible(timeout=60_000)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(p) for p in twenty])
    expect(page.get_by_role("heading", name=twenty[-1].name)).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)
    memory = rss_mb(pid)
    return {"health_s": health, "first_render_s": first_render, "answer_s": answers, "memory_mb": memory}


def report(figures: dict) -> None:
    answer = statistics.median(figures["answer_s"])
    rows = [
        ("server answers its health check after start (s)", f"{figures['health_s']:.2f}", "", True),
        (
            "first page rendered after start (s)",
            f"{figures['first_render_s']:.2f}",
            "<= 3",
            figures["first_render_s"] <= 3,
        ),
        ("12 MP photo dropped -> answer shown, median of 3 (s)", f"{answer:.2f}", "<= 1.5", answer <= 1.5),
        (
            "app memory after 20 photos classified (MB)",
            f"{figures['memory_mb']:.0f}",
            "< 400",
            figures["memory_mb"] < 400,
        ),
    ]
    for name, value, target, ok in rows:
        verdict = ("PASS" if ok else "FAIL") if target else ""
        print(f"{name:<55} {value:>8}  {target:>7}  {verdict}")
    print("answer runs (s): " + ", ".join(f"{s:.2f}" for s in figures["answer_s"]))


if __name__ == "__main__":
    sys.exit(main())
