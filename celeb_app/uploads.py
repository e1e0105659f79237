"""A visitor's uploads, bounded before they reach the server's memory.

Streamlit keeps every uploaded file in memory until the session ends, and
its uploader takes any number of files: one visitor dropping 24 files of
40 MB took the server from 318 MB to 2.2 GB, still held minutes later. The
page reading only the first ten is too late: the bytes are in memory by then.

So, once per server process (:func:`bound_uploads`, called by app.py):

- Uploads stay in memory: Starlette's multipart parser would spool a file
  over 1 MB to disk, and a visitor's photo must never touch the disk (it ends
  up in memory anyway: Streamlit keeps uploads as bytes).
- At most ``UPLOADS_PARSED_AT_ONCE`` uploads are parsed at once, for every
  session together; the others wait unread (their bytes stay in the proxy and
  the sockets), so a flood of parallel uploads costs one or two files of
  memory at a time, not all of them.
- The upload manager is wrapped:

- Upload addresses: the browser asks for one per file before sending it. A
  session that is not the owner's gets real ones only while it holds (or is
  about to send) fewer than ``VISITOR_MAX_FILES`` files; the others point at
  a session that does not exist, which Streamlit's upload route refuses before
  reading a byte of the body. The picker marks those files as failed.
- Files arriving anyway (a client that makes up its own addresses): a
  visitor's file beyond the count or ``VISITOR_MAX_UPLOAD_MB`` in all is
  dropped as soon as it is read.

Who is the owner is decided on every script run (``access.current``), which
records it here; a session that never ran is a visitor.

Also here, for the pages: the file types the pickers offer (``UPLOAD_TYPES``)
and :func:`release_uploads`, which lets go of files a page will not read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Any

from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile

from celeb import (
    IMAGE_SUFFIXES,
    MAX_UPLOAD_MB,
    UPLOADS_PARSED_AT_ONCE,
    VISITOR_MAX_FILES,
    VISITOR_MAX_UPLOAD_MB,
)

#: Where the upload addresses of refused files point: not a session, so refused unread.
REFUSED_SESSION = "over-the-visitor-limit"
#: An address handed out but never used stops counting after this long.
PENDING_SECONDS = 120.0

#: Offered in the file pickers: what the app reads. HEIC/HEIF were offered and then refused (issue
#: 23); the pickers' help says to export them as JPEG, and one arriving anyway (a zip) gets that message.
UPLOAD_TYPES = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES]

_lock = threading.Lock()
_owners: set[str] = set()
_pending: dict[str, dict[str, float]] = {}  # session -> file id -> when its address was given


def record_role(session_id: str, owner: bool) -> None:
    """What the latest script run of ``session_id`` decided."""
    with _lock:
        if owner:
            _owners.add(session_id)
        else:
            _owners.discard(session_id)


def bound_uploads() -> None:
    """Keep uploads in memory, parse few at once, and limit a visitor's (once a process)."""
    keep_uploads_in_memory()
    parse_few_at_once()
    limit_visitor_uploads()


def keep_uploads_in_memory() -> None:
    try:
        from starlette.formparsers import MultiPartParser
    except ImportError:  # a Streamlit server without Starlette (Tornado) keeps bodies in memory
        return
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, (MAX_UPLOAD_MB + 1) * 2**20)


def parse_few_at_once() -> None:
    try:
        from starlette.formparsers import MultiPartParser
    except ImportError:
        return
    parse = MultiPartParser.parse
    if getattr(parse, "_celeb_bounded", False):
        return
    gate: list[asyncio.Semaphore] = []

    async def bounded_parse(self: Any) -> Any:
        if not gate:  # made in the server's event loop, on first use
            gate.append(asyncio.Semaphore(UPLOADS_PARSED_AT_ONCE))
        async with gate[0]:
            return await parse(self)

    bounded_parse._celeb_bounded = True  # type: ignore[attr-defined]
    MultiPartParser.parse = bounded_parse


def limit_visitor_uploads() -> None:
    """Wrap this server's upload manager (once; later calls do nothing)."""
    context = get_script_run_ctx()
    manager = getattr(context, "uploaded_file_mgr", None)
    if manager is None or getattr(manager, "_celeb_limited", False):
        return
    with _lock:
        if getattr(manager, "_celeb_limited", False):
            return
        _wrap(manager)
        manager._celeb_limited = True


def _wrap(manager: Any) -> None:
    give_addresses, keep_file = manager.get_upload_urls, manager.add_file

    def get_upload_urls(session_id: str, file_names: Any) -> list:
        infos = give_addresses(session_id, file_names)
        with _lock:
            if session_id in _owners:
                return infos
            now = time.monotonic()
            pending = _pending.setdefault(session_id, {})
            for file_id in [f for f, since in pending.items() if now - since > PENDING_SECONDS]:
                del pending[file_id]
            room = VISITOR_MAX_FILES - len(_held(manager, session_id)) - len(pending)
            allowed = []
            for info in infos:
                if room > 0:
                    pending[info.file_id] = now
                    room -= 1
                    allowed.append(info)
                else:
                    refused = f"{manager.endpoint}/{REFUSED_SESSION}/{info.file_id}"
                    allowed.append(type(info)(file_id=info.file_id, upload_url=refused, delete_url=refused))
            return allowed

    def add_file(session_id: str, file: Any) -> None:
        with _lock:
            pending = _pending.get(session_id, {})
            pending.pop(file.file_id, None)
            if not pending:
                _pending.pop(session_id, None)
            if session_id not in _owners:
                held = _held(manager, session_id)
                held_bytes = sum(len(f.data) for f in held.values() if f.file_id != file.file_id)
                count = len(held) - (file.file_id in held)
                if count >= VISITOR_MAX_FILES or held_bytes + len(file.data) > VISITOR_MAX_UPLOAD_MB * 2**20:
                    return  # dropped: the bytes go as soon as the request ends
        keep_file(session_id, file)

    manager.get_upload_urls = get_upload_urls
    manager.add_file = add_file


def _held(manager: Any, session_id: str) -> dict:
    # Read without Streamlit's lock: a snapshot is enough to count.
    return dict(manager.file_storage.get(session_id, {}))


def release_uploads(uploads: Iterable[UploadedFile]) -> None:
    """Free the bytes of uploads the page will never read, now instead of when the session ends.

    Streamlit holds every uploaded file from two places until the session
    ends: its upload manager, and the widget's value (an UploadedFile over the
    same bytes). Closing the file and removing it from the manager drops both; the
    picker still lists it, and the widget no longer returns it once the
    visitor changes the selection.
    """
    context = get_script_run_ctx()
    for upload in uploads:
        if context is not None:
            context.uploaded_file_mgr.remove_file(context.session_id, upload.file_id)
        upload.close()
