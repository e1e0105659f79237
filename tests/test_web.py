"""Photos from image addresses: a real HTTP server on 127.0.0.1 serves good and bad answers.

127.0.0.1 is a loopback address, refused by default; the tests allow it
through FetchSettings.allowed_hosts (CELEB_ALLOWED_HOSTS in the app and CLI) for
the test server's port only, and some tests show the refusal without it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import jpeg_route

from celeb.dataset import DatasetStore
from celeb.url_import import UrlJob, UrlListError, import_urls, read_url_csv
from celeb.web import FetchError, FetchSettings, fetch_image

ROOT = Path(__file__).resolve().parent.parent


def allow_local(base: str, timeout: float = 3.0) -> FetchSettings:
    """Settings that exempt the test server's host:port (``base`` is its http://127.0.0.1:port)."""
    exempt = frozenset({base.removeprefix("http://")})
    return FetchSettings(timeout=timeout, max_bytes=2 * 1024 * 1024, allowed_hosts=exempt)


@pytest.fixture
def photos(make_photo) -> dict[str, bytes]:
    return {"ann": make_photo("red", 1), "ann2": make_photo("red", 2), "bob": make_photo("blue", 3)}


# ---------------------------------------------------------------- one download


def test_a_photo_is_downloaded(site, photos):
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    assert fetch_image(f"{base}/ann.jpg", allow_local(base)) == photos["ann"]


def test_a_private_address_is_refused_by_default(site, photos):
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    with pytest.raises(FetchError, match=r"private or local address \(127\.0\.0\.1\)"):
        fetch_image(f"{base}/ann.jpg", FetchSettings())
    assert served.requests == []  # refused before connecting


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/x.jpg",  # a name that resolves to loopback
        "http://10.1.2.3/x.jpg",
        "http://192.168.0.1/x.jpg",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]/x.jpg",
        "http://[::ffff:127.0.0.1]/x.jpg",
        "http://0.0.0.0/x.jpg",
        "http://2130706433/x.jpg",  # 127.0.0.1 written as one number
    ],
)
def test_non_public_addresses_are_refused(url):
    with pytest.raises(FetchError, match="private or local address"):
        fetch_image(url, FetchSettings(timeout=2.0))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/x.jpg", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http:///x.jpg", "no host"),
    ],
)
def test_other_schemes_and_broken_addresses_are_refused(url, message):
    with pytest.raises(FetchError, match=message):
        fetch_image(url, FetchSettings())


@pytest.mark.parametrize("url", ["not a url", "example.org/ann.jpg", "  "])
def test_an_address_without_a_scheme_is_called_no_web_address(url):
    with pytest.raises(FetchError) as info:
        fetch_image(url, FetchSettings())
    assert (
        str(info.value) == f"{url.strip()!r} is not a web address (it should start with http:// or https://)"
    )


def test_a_redirect_is_followed_and_checked_again(site, photos):
    served, base = site
    served.routes["/old.jpg"] = (302, {"Location": "/new.jpg"}, b"", 0.0)
    served.routes["/new.jpg"] = jpeg_route(photos["ann"])
    served.routes["/to-private"] = (301, {"Location": "http://10.0.0.1/secret.jpg"}, b"", 0.0)
    assert fetch_image(f"{base}/old.jpg", allow_local(base)) == photos["ann"]
    with pytest.raises(FetchError, match=r"private or local address \(10\.0\.0\.1\)"):
        fetch_image(f"{base}/to-private", allow_local(base))


def test_redirects_are_limited(site):
    served, base = site
    served.routes["/loop"] = (302, {"Location": "/loop"}, b"", 0.0)
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch_image(f"{base}/loop", allow_local(base))
    assert len(served.requests) == 6


def test_a_slow_server_times_out(site, photos):
    served, base = site
    served.routes["/slow.jpg"] = jpeg_route(photos["ann"] + bytes(200_000), pause=0.5)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"longer than 1 s|within 1 s"):
        fetch_image(f"{base}/slow.jpg", allow_local(base, timeout=1.0))
    assert time.monotonic() - started < 2.5


def test_an_oversized_file_is_refused_by_its_length_or_while_reading(site):
    served, base = site
    big = bytes(3 * 1024 * 1024)
    served.routes["/big.jpg"] = jpeg_route(big)
    with pytest.raises(FetchError, match=r"the file is 3\.0 MB, over 2 MB"):
        fetch_image(f"{base}/big.jpg", allow_local(base))
    # Without a length the body ends when the server closes: the cap applies while reading.
    served.routes["/endless.jpg"] = (200, {"Content-Type": "image/jpeg", "X-Unknown-Length": "1"}, big, 0.0)
    with pytest.raises(FetchError, match="the file is over 2 MB"):
        fetch_image(f"{base}/endless.jpg", allow_local(base))
    served.routes["/lying.jpg"] = (200, {"Content-Type": "image/jpeg", "Content-Length": "100"}, big, 0.0)
    # A server whose Content-Length understates the body gets only what it declared: not an image.
    assert len(fetch_image(f"{base}/lying.jpg", allow_local(base))) == 100


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "answered 404 Not Found"), (500, "answered 500 Internal Server Error"), (403, "answered 403")],
)
def test_http_errors_say_which(site, status, message):
    served, base = site
    served.routes["/x.jpg"] = (status, {}, b"nope", 0.0)
    with pytest.raises(FetchError, match=message):
        fetch_image(f"{base}/x.jpg", allow_local(base))


def test_a_page_instead_of_an_image_is_refused(site):
    served, base = site
    served.routes["/page"] = (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html></html>", 0.0)
    with pytest.raises(FetchError, match="gives text/html, not an image"):
        fetch_image(f"{base}/page", allow_local(base))


# ---------------------------------------------------------------- lists into the dataset


def test_import_reports_added_skipped_and_failed_and_a_rerun_adds_nothing(site, photos, tmp_path):
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    served.routes["/ann-again.jpg"] = jpeg_route(photos["ann"])  # same photo, another address
    served.routes["/ann2.jpg"] = jpeg_route(photos["ann2"])
    served.routes["/bob.jpg"] = jpeg_route(photos["bob"])
    served.routes["/text.jpg"] = jpeg_route(b"this is no photo at all, whatever the content type says")
    served.routes["/moved"] = (302, {"Location": "/bob.jpg"}, b"", 0.0)
    jobs = [
        UrlJob("Ann", f"{base}/ann.jpg"),
        UrlJob("Ann", f"{base}/ann-again.jpg"),
        UrlJob("Ann", f"{base}/ann2.jpg"),
        UrlJob("Bob", f"{base}/bob.jpg"),
        UrlJob("Bob", f"{base}/text.jpg"),
        UrlJob("Bob", f"{base}/missing.jpg"),
        UrlJob("Bob", "http://10.0.0.1/private.jpg"),
    ]
    store = DatasetStore(tmp_path / "dataset")
    progress: list[tuple[int, int]] = []
    report = import_urls(store, jobs, allow_local(base), progress=lambda *step: progress.append(step))

    added = [("Ann", f"{base}/ann.jpg"), ("Ann", f"{base}/ann2.jpg"), ("Bob", f"{base}/bob.jpg")]
    assert sorted(report.added) == added
    assert report.skipped == [("Ann", f"{base}/ann-again.jpg", "the same photo is already added")]
    failed = {url.rsplit("/", 1)[1]: why for _, url, why in report.failed}
    assert failed.keys() == {"text.jpg", "missing.jpg", "private.jpg"}
    assert failed["text.jpg"].startswith("not a photo the app can read")
    assert "404" in failed["missing.jpg"] and "private or local" in failed["private.jpg"]
    assert progress[-1] == (7, 7)
    assert {p.name: p.photos for p in store.people()} == {"Ann": 2, "Bob": 1}

    served.requests.clear()
    again = import_urls(store, [*jobs, UrlJob("Bob", f"{base}/moved")], allow_local(base))
    assert again.added == []
    reasons = {url.rsplit("/", 1)[1]: why for _, url, why in again.skipped}
    assert reasons["ann.jpg"] == "already imported for Ann"
    assert reasons["moved"] == "the same photo is already added"  # by content, after the redirect
    assert "/ann.jpg" not in served.requests  # imported addresses are not downloaded again
    assert {p.name: p.photos for p in store.people()} == {"Ann": 2, "Bob": 1}


def test_a_person_is_added_only_with_a_photo(site, photos, tmp_path):
    served, base = site
    served.routes["/ann.jpg"] = served.routes["/ann-copy.jpg"] = jpeg_route(photos["ann"])
    store = DatasetStore(tmp_path / "dataset")
    store.add_person("Eve")  # there before, with no photos: an import that adds nothing leaves her
    jobs = [
        UrlJob("Ann", f"{base}/ann.jpg"),
        UrlJob("Cy", f"{base}/missing.jpg"),  # every row of Cy's fails
        UrlJob("Cy", "not a url"),
        UrlJob("Dee", f"{base}/ann-copy.jpg"),  # Dee's only photo is Ann's
        UrlJob("Eve", f"{base}/missing.jpg"),
    ]
    report = import_urls(store, jobs, allow_local(base))
    assert report.added == [("Ann", f"{base}/ann.jpg")]
    assert report.skipped == [("Dee", f"{base}/ann-copy.jpg", "the same photo is already added to Ann")]
    assert {p.name: p.photos for p in store.people()} == {"Ann": 1, "Eve": 0}
    assert sorted(path.name for path in store.root.iterdir() if path.is_dir()) == ["ann"]


def test_csv_rows_are_read_and_bad_rows_named():
    jobs = read_url_csv(
        b"\xef\xbb\xbfperson,url\nSerena Williams, https://e.org/a.jpg\n\n# note\nNovak,https://e.org/b.jpg\n"
    )
    assert jobs == [UrlJob("Serena Williams", "https://e.org/a.jpg"), UrlJob("Novak", "https://e.org/b.jpg")]
    with pytest.raises(UrlListError, match="row 2 of the CSV should be 'person,url'"):
        read_url_csv("person,url\njust-a-url\n")
    with pytest.raises(UrlListError, match="row 1 of the CSV: a name cannot contain '/'"):
        read_url_csv("../etc,https://e.org/a.jpg\n")
    with pytest.raises(UrlListError, match="no 'person,url' rows"):
        read_url_csv("person,url\n")
    with pytest.raises(UrlListError, match="not UTF-8"):
        read_url_csv(b"\xff\xfe\x00a")


def test_cli_import_urls(site, photos, tmp_path):
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    listing = tmp_path / "urls.csv"
    listing.write_text(f"person,url\nAnn,{base}/ann.jpg\nAnn,{base}/gone.jpg\n")
    command = [sys.executable, "-m", "celeb", "import-urls", str(listing), "--dataset", str(tmp_path / "ds")]
    env = {"CELEB_ALLOWED_HOSTS": base.removeprefix("http://"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 1, result.stderr  # one address failed
    assert f"added    Ann: {base}/ann.jpg" in result.stdout
    assert f"failed   Ann: {base}/gone.jpg: the server answered 404 Not Found" in result.stdout
    assert result.stdout.strip().endswith("1 added, 0 skipped, 1 failed")
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert "already imported for Ann" in again.stdout


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::7f00:1]/x.jpg",  # NAT64 of 127.0.0.1
        "http://[2002:a9fe:a9fe::]/x.jpg",  # 6to4 of 169.254.169.254
        "http://[::7f00:1]/x.jpg",  # IPv4-compatible 127.0.0.1
        "http://[fec0::1]/x.jpg",  # site-local
    ],
)
def test_ipv6_forms_that_carry_a_private_ipv4_address_are_refused(url):
    with pytest.raises(FetchError, match="private or local address"):
        fetch_image(url, FetchSettings(timeout=2.0))


@pytest.mark.parametrize("url", ["http://[::1/x.jpg", "http://[evil.com]/x.jpg", "http://host:99999/x.jpg"])
def test_malformed_addresses_are_a_fetch_error(url):
    with pytest.raises(FetchError, match="malformed"):
        fetch_image(url, FetchSettings(timeout=2.0))


def test_non_ascii_paths_are_sent_percent_encoded(site, photos):
    served, base = site
    served.routes["/caf%C3%A9.jpg?q=%C3%A9"] = jpeg_route(photos["ann"])
    assert fetch_image(f"{base}/café.jpg?q=é", allow_local(base)) == photos["ann"]


def test_a_server_that_never_finishes_its_headers_is_cut_off_at_the_deadline():
    import socket as sockets

    listener = sockets.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.wait(0.3):  # a header line now and then, never the end of the headers
            try:
                connection.sendall(b"X-Slow: yes\r\n")
            except OSError:
                break
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        quick = FetchSettings(timeout=1.0, allowed_hosts=frozenset({f"127.0.0.1:{port}"}))
        with pytest.raises(FetchError, match=r"longer than 1 s|within 1 s"):
            fetch_image(f"http://127.0.0.1:{port}/x.jpg", quick)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 3


def test_one_bad_address_does_not_end_the_import(site, photos, tmp_path):
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    jobs = [UrlJob("Ann", "http://[::1/x.jpg"), UrlJob("Ann", f"{base}/ann.jpg")]
    report = import_urls(DatasetStore(tmp_path / "ds"), jobs, allow_local(base))
    assert report.added == [("Ann", f"{base}/ann.jpg")]
    assert [url for _, url, _ in report.failed] == ["http://[::1/x.jpg"]


# ---------------------------------------------------------------- exemptions: one port, not by redirect


def test_an_exemption_names_one_port_not_the_whole_host(site, other_site, photos):
    served, base = site
    other, other_base = other_site
    served.routes["/ann.jpg"] = other.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    assert fetch_image(f"{base}/ann.jpg", allow_local(base)) == photos["ann"]
    with pytest.raises(FetchError, match=r"private or local address \(127\.0\.0\.1\)"):
        fetch_image(f"{other_base}/ann.jpg", allow_local(base))  # same host, another port
    assert other.requests == []


def test_a_redirect_cannot_enter_an_exempt_host_port_from_elsewhere(site, other_site, photos):
    served, base = site
    other, other_base = other_site
    served.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    other.routes["/to-site"] = (302, {"Location": f"{base}/ann.jpg"}, b"", 0.0)
    served.routes["/away-and-back"] = (302, {"Location": f"{other_base}/to-site"}, b"", 0.0)
    both = FetchSettings(
        timeout=3.0,
        allowed_hosts=frozenset({base.removeprefix("http://"), other_base.removeprefix("http://")}),
    )
    # Both are exempt, but only for addresses that start there: the redirect is checked as public.
    with pytest.raises(FetchError, match=r"private or local address \(127\.0\.0\.1\)"):
        fetch_image(f"{other_base}/to-site", both)
    assert served.requests == []
    # Nor may a chain come back to where it started once it has left.
    with pytest.raises(FetchError, match=r"private or local address \(127\.0\.0\.1\)"):
        fetch_image(f"{base}/away-and-back", both)
    assert served.requests == ["/away-and-back"]
    assert fetch_image(f"{base}/ann.jpg", both) == photos["ann"]


def test_exemptions_are_host_port_pairs_and_a_bare_host_exempts_nothing(monkeypatch, caplog):
    from celeb.config import allowed_hosts

    monkeypatch.setenv("CELEB_ALLOWED_HOSTS", "127.0.0.1, Images.LAN:8080,[::1]:81,,localhost:http")
    with caplog.at_level("WARNING", logger="celeb"):
        assert allowed_hosts() == {("images.lan", 8080), ("::1", 81)}
    assert "'127.0.0.1' names no port" in caplog.text
    assert "'localhost:http' is not host:port" in caplog.text
    assert FetchSettings.from_env().allowed_hosts == {("images.lan", 8080), ("::1", 81)}
    with pytest.raises(ValueError, match="names no port"):
        FetchSettings(allowed_hosts=frozenset({"127.0.0.1"}))


# ---------------------------------------------------------------- host name lookups are under the deadline


@pytest.fixture
def slow_dns(monkeypatch):
    """Looking up any name hangs until the test ends; counts lookups running at once."""
    import celeb.web

    release = threading.Event()
    state = {"running": 0, "most": 0, "started": 0}
    lock = threading.Lock()

    def hanging(host: str, port: int) -> list:
        with lock:
            state["running"] += 1
            state["started"] += 1
            state["most"] = max(state["most"], state["running"])
        try:
            release.wait(10)
            raise OSError("the name server gave up")
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(celeb.web, "_getaddrinfo", hanging)
    yield state
    release.set()


def test_a_slow_host_name_lookup_ends_at_the_deadline(slow_dns):
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"looking up slow\.example took longer than 1 s"):
        fetch_image("http://slow.example/x.jpg", FetchSettings(timeout=1.0))
    assert time.monotonic() - started < 2


def test_abandoned_lookups_are_bounded(slow_dns, monkeypatch):
    import celeb.web

    monkeypatch.setattr(celeb.web, "_LOOKUPS", threading.BoundedSemaphore(2))
    errors: list[str] = []

    def fetch(number: int) -> None:
        try:
            fetch_image(f"http://slow{number}.example/x.jpg", FetchSettings(timeout=0.5))
        except FetchError as exc:
            errors.append(str(exc))

    started = time.monotonic()
    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert time.monotonic() - started < 2
    assert len(errors) == 6 and all("took longer than 0.5 s" in e for e in errors), errors
    # Two lookups hang on; the other downloads waited for a place and gave up at their deadline.
    assert slow_dns["most"] == 2 and slow_dns["started"] == 2


def test_an_address_is_not_looked_up_so_slow_name_servers_cannot_hold_it(site, photos, slow_dns, monkeypatch):
    import celeb.web

    monkeypatch.setattr(celeb.web, "_LOOKUPS", threading.BoundedSemaphore(1))
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(photos["ann"])
    with pytest.raises(FetchError, match="took longer than"):
        fetch_image("http://slow.example/x.jpg", FetchSettings(timeout=0.3))  # holds the one place
    assert fetch_image(f"{base}/ann.jpg", allow_local(base)) == photos["ann"]
    assert slow_dns["started"] == 1
