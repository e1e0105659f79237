"""App figures in a real browser: first render, a 12 MP photo's answer, memory.

    python -m bench.browser

Starts ``streamlit run app.py`` on 127.0.0.1 with the shipped model (and an
empty temporary dataset), drives Debian's chromium through Playwright, and
prints:

- seconds from the server process's start to the Classify page drawn: its
  title, the photo drop zone and the sidebar's model card (the shipped
  model's card, ``models/model.json``, as shipped); median of ``--starts``
  server starts, each visited by a new browser context;
- seconds from dropping a 12-megapixel JPEG to its first face's answer
  (median of 3 fresh page loads; the first of them right after the first
  page, while the model may still be loading, is also printed);
- the server's resident memory after 20 shared photos were classified.

Targets: first render <= 2 s (issue "Curate, train and sort"), answer <= 1.5 s, memory <= 450 MB
(issue "Right by default"). Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect, sync_playwright

from bench.common import ANSWER, ROOT, list_photos, raw_folder, rss_mb, twelve_megapixels
from bench.serving import CHROMIUM, CHROMIUM_ARGS, AppServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5, help="server starts for the first page (default 5)")
    args = parser.parse_args(argv)
    raw = raw_folder()
    with tempfile.TemporaryDirectory(prefix="celeb-bench-app-") as scratch:
        scratch = Path(scratch)
        big = twelve_megapixels(scratch)
        photos = [photo.path for photo in list_photos(raw)]
        twenty = [photos[i] for i in np.linspace(0, len(photos) - 1, 20).astype(int)]
        # The browser starts first: its own start-up is not the app's.
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        starts: list[tuple[float, float]] = []
        try:
            for index in range(args.starts):
                app = AppServer(scratch / f"app-{index}")
                app.models.mkdir(parents=True)
                for name in ("model.joblib", "model.json"):  # the model as shipped, with its card
                    shutil.copy(ROOT / "models" / name, app.models / name)
                started = time.perf_counter()
                try:
                    app.start()
                    health = time.perf_counter() - started
                    # A new browser context each time: nothing cached from an earlier visit.
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    starts.append((health, first_page(page, app.url() + "/", started)))
                    if index == args.starts - 1:
                        figures = measure(page, app.url() + "/", big, twenty, app.process.pid)
                    context.close()
                finally:
                    app.stop()
        finally:
            browser.close()
            playwright.stop()
        figures["health_s"] = [health for health, _ in starts]
        figures["first_render_s"] = [render for _, render in starts]
    report(figures)
    return 0


def first_page(page: Page, url: str, started: float) -> float:
    """Seconds from ``started`` until the Classify page shows its heading, its photo drop zone
    and the sidebar's model card, all of them."""
    page.goto(url)
    expect(page.get_by_role("heading", name="Who is this?")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stFileUploaderDropzone")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"^Knows \d+ people"))).to_be_visible(timeout=60_000)
    return time.perf_counter() - started


def measure(page: Page, url: str, big: Path, twenty: list[Path], pid: int) -> dict:
    """Answers to a 12 MP photo (the first right after the first page) and the memory after 20."""
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
    # Over ten photos at once the page sorts them into one table (who is where).
    expect(page.get_by_role("heading", name="Who is where")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)
    memory = rss_mb(pid)
    return {"answer_s": answers, "memory_mb": memory}


def report(figures: dict) -> None:
    answer = statistics.median(figures["answer_s"])
    health = statistics.median(figures["health_s"])
    render = statistics.median(figures["first_render_s"])
    starts = len(figures["first_render_s"])
    rows = [
        (f"server answers its health check, median of {starts} starts (s)", f"{health:.2f}", "", True),
        (
            f"first page drawn after start, median of {starts} starts (s)",
            f"{render:.2f}",
            "<= 2",
            render <= 2,
        ),
        ("12 MP photo dropped -> answer shown, median of 3 (s)", f"{answer:.2f}", "<= 1.5", answer <= 1.5),
        (
            "app memory after 20 photos classified (MB)",
            f"{figures['memory_mb']:.0f}",
            "<= 450",
            figures["memory_mb"] <= 450,
        ),
    ]
    for name, value, target, ok in rows:
        verdict = ("PASS" if ok else "FAIL") if target else ""
        print(f"{name:<62} {value:>8}  {target:>7}  {verdict}")
    print("first page drawn, each start (s): " + ", ".join(f"{s:.2f}" for s in figures["first_render_s"]))
    print(
        "answer runs (s), the first right after the first page: "
        + ", ".join(f"{s:.2f}" for s in figures["answer_s"])
    )


if __name__ == "__main__":
    sys.exit(main())
