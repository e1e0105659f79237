"""A visitor's uploads are bounded before they reach the server's memory (celeb_app/uploads.py)."""

from __future__ import annotations

import asyncio
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartParser
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from bench.serving import AppServer
from celeb.config import MAX_UPLOAD_MB, UPLOADS_PARSED_AT_ONCE, VISITOR_MAX_FILES, VISITOR_MAX_UPLOAD_MB
from celeb_app import uploads

MB = 2**20


@pytest.fixture
def manager() -> MemoryUploadedFileManager:
    wrapped = MemoryUploadedFileManager("/_stcore/upload_file")
    uploads._wrap(wrapped)
    return wrapped


def send(manager, session: str, sizes: list[int]) -> list[str]:
    """Ask for addresses as the browser does, then upload to the ones given to this session."""
    infos = manager.get_upload_urls(session, [f"{n}.jpg" for n in range(len(sizes))])
    for info, size in zip(infos, sizes, strict=True):
        if f"/{session}/" in info.upload_url:
            manager.add_file(session, UploadedFileRec(info.file_id, "x.jpg", "image/jpeg", bytes(size)))
    return [info.upload_url for info in infos]


def test_a_visitor_gets_addresses_for_at_most_the_visitor_cap(manager):
    session = uuid.uuid4().hex
    addresses = send(manager, session, [1000] * 24)
    real = [a for a in addresses if f"/{session}/" in a]
    refused = [a for a in addresses if f"/{uploads.REFUSED_SESSION}/" in a]
    assert len(real) == VISITOR_MAX_FILES and len(refused) == 24 - VISITOR_MAX_FILES
    assert len(manager.file_storage[session]) == VISITOR_MAX_FILES
    # Held files count: more addresses come only once the visitor removes some.
    assert all(uploads.REFUSED_SESSION in a for a in send(manager, session, [1000] * 3))
    for file_id in list(manager.file_storage[session])[:2]:
        manager.remove_file(session, file_id)
    assert sum(f"/{session}/" in a for a in send(manager, session, [1000] * 3)) == 2


def test_a_visitors_files_beyond_the_byte_budget_are_dropped(manager):
    session = uuid.uuid4().hex
    size = 30 * MB
    send(manager, session, [size] * 4)
    assert len(manager.file_storage[session]) == VISITOR_MAX_UPLOAD_MB * MB // size
    # A client making up its own file ids gets no more in than the cap either.
    for _ in range(VISITOR_MAX_FILES + 5):
        manager.add_file(session, UploadedFileRec(uuid.uuid4().hex, "x.jpg", "image/jpeg", b"x"))
    assert len(manager.file_storage[session]) <= VISITOR_MAX_FILES


def test_the_owner_is_not_limited(manager):
    session = uuid.uuid4().hex
    uploads.record_role(session, True)
    try:
        addresses = send(manager, session, [40 * MB] * 12)
    finally:
        uploads.record_role(session, False)
    assert all(f"/{session}/" in a for a in addresses)
    assert len(manager.file_storage[session]) == 12


def test_uploads_are_parsed_a_few_at_once(monkeypatch):
    running, most = [0], [0]

    async def slow_parse(self):
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.02)
        running[0] -= 1
        return "form"

    monkeypatch.setattr(MultiPartParser, "parse", slow_parse)
    uploads.parse_few_at_once()
    assert MultiPartParser.parse is not slow_parse

    async def many() -> list:
        parser = MultiPartParser(Headers({"content-type": "multipart/form-data; boundary=x"}), _empty())
        return await asyncio.gather(*(MultiPartParser.parse(parser) for _ in range(8)))

    assert asyncio.run(many()) == ["form"] * 8
    assert most[0] == UPLOADS_PARSED_AT_ONCE


async def _empty():
    yield b""


def test_uploads_stay_in_memory(monkeypatch):
    # Starlette spools a file over spool_max_size (1 MB) to a temporary file on disk; a visitor's
    # photo must never touch the disk, up to the largest upload allowed.
    uploads.keep_uploads_in_memory()
    on_disk = []
    temporary_file = tempfile.TemporaryFile

    def recording(*args, **kwargs):
        on_disk.append(args)
        return temporary_file(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    photo = b"\xff" * (MAX_UPLOAD_MB * MB)
    body = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    body += photo + b"\r\n--x--\r\n"

    async def stream():
        for start in range(0, len(body), MB):
            yield body[start : start + MB]

    async def parse() -> bytes:
        parser = MultiPartParser(Headers({"content-type": "multipart/form-data; boundary=x"}), stream())
        form = await parser.parse()
        upload = form["file"]
        data = await upload.read()
        await upload.close()
        return data

    assert asyncio.run(parse()) == photo
    assert on_disk == []


@pytest.fixture(scope="module")
def app_server():
    with tempfile.TemporaryDirectory(prefix="celeb-uploads-") as folder, AppServer(Path(folder)) as server:
        yield server


def test_streamlit_refuses_a_refused_address_before_its_body(app_server):
    # What a refused file's address leads to: not a session, which Streamlit's upload route
    # answers before it reads the body (with the XSRF token a browser would send).
    # The health check sets the XSRF cookie, as the page's first request does in a browser.
    with urllib.request.urlopen(f"{app_server.url()}/_stcore/health", timeout=30) as health:
        cookies = health.headers.get_all("Set-Cookie") or []
    cookie = next(value.split(";")[0] for value in cookies if value.startswith("_streamlit_xsrf="))
    token = cookie.split("=", 1)[1]
    boundary = "x"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    body = body.encode() + b"\0" * 1000 + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{app_server.url()}/_stcore/upload_file/{uploads.REFUSED_SESSION}/abc",
        data=body,
        method="PUT",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Xsrftoken": token,
            "Cookie": cookie,
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    assert b"Invalid session_id" in refused.value.read()
