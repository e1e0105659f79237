"""Starting the app as the README does: what ``streamlit run app.py`` prints in a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.serving import free_port, healthy

ROOT = Path(__file__).resolve().parent.parent


def test_the_start_prints_one_url_and_no_external_ip_warning(tmp_path):
    """Issue 23: headless, Streamlit looked up this machine's public address and, without a network,
    printed "Did not auto detect external IP", which puzzled users. .streamlit/config.toml's
    browser.serverAddress skips that lookup; the start still says where the app is."""
    port = free_port()
    # No display is how Streamlit decides it is headless (a server, a container, SSH): the only case
    # where it looks the address up. No STREAMLIT_* variable of the developer's overrides the file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env |= {
        "CELEB_DATASET_DIR": str(tmp_path / "dataset"),
        "CELEB_MODELS_DIR": str(tmp_path / "models"),
        "TMPDIR": str(tmp_path),
    }
    log = tmp_path / "start.log"
    # The README's command; the port only, so that it never meets a running app.
    command = [sys.executable, "-m", "streamlit", "run", "app.py", f"--server.port={port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://localhost:{port}"
        deadline = time.monotonic() + 60
        while url not in log.read_text(errors="replace") and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        assert healthy(url), log.read_text(errors="replace")  # the printed address answers
    finally:
        process.terminate()
        process.wait(timeout=15)
    printed = log.read_text(errors="replace")
    assert "Did not auto detect external IP" not in printed, printed
    assert "External URL" not in printed, printed  # where there is a network: not looked up either
    assert re.search(rf"^\s+URL: {re.escape(url)}$", printed, re.MULTILINE), printed
