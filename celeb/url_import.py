"""Lists of image addresses (text, or a ``person,url`` CSV) and their import into the dataset:
downloads (:func:`celeb.web.fetch_image`) run a few at a time, photos are added one by one.

>>> read_url_lines("https://example.org/a.jpg\\n\\n# a comment\\n  https://example.org/b.png  ")
['https://example.org/a.jpg', 'https://example.org/b.png']
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .config import DETECTION_MAX_SIDE, MAX_CSV_BYTES
from .errors import CelebError, ImageError, InvalidNameError
from .images import read_image
from .names import validate_name
from .web import FetchError, FetchSettings, fetch_image

if TYPE_CHECKING:
    from .dataset import DatasetStore


class UrlListError(CelebError, ValueError):
    """A list of addresses (text or CSV) cannot be used."""


@dataclass(frozen=True)
class UrlJob:
    """One address to download for one person."""

    person: str
    url: str


@dataclass
class UrlReport:
    """What an import of addresses did, address by address: (person, url[, why])."""

    added: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.skipped)} skipped, {len(self.failed)} failed"


# ---------------------------------------------------------------- lists


def read_url_lines(text: str) -> list[str]:
    """Addresses from text, one per line; blank lines and ``#`` comments ignored."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def read_url_csv(data: bytes | str) -> list[UrlJob]:
    """``person,url`` rows (a header row is allowed); raises UrlListError naming a bad row.

    >>> read_url_csv("person,url\\nSerena Williams,https://example.org/s.jpg\\n")
    [UrlJob(person='Serena Williams', url='https://example.org/s.jpg')]
    """
    if len(data) > MAX_CSV_BYTES:
        raise UrlListError(f"the CSV file is over the limit of {MAX_CSV_BYTES // 2**20} MB")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UrlListError("the CSV file is not UTF-8 text") from exc
    jobs = []
    for number, row in enumerate(_csv_rows(data), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] == ["person", "url"]:
            continue
        if len(cells) != 2 or not cells[1]:
            raise UrlListError(f"row {number} of the CSV should be 'person,url', not {','.join(cells)!r}")
        try:
            person = validate_name(cells[0])
        except InvalidNameError as exc:
            raise UrlListError(f"row {number} of the CSV: {exc}") from exc
        jobs.append(UrlJob(person, cells[1]))
    if not jobs:
        raise UrlListError("the CSV file has no 'person,url' rows")
    return jobs


def _csv_rows(text: str) -> Iterator[list[str]]:
    """The CSV's rows; a malformed one (a field over csv.field_size_limit(), a NUL ...) is a UrlListError.

    The csv module raises its own csv.Error, which neither the CLI nor the app
    would show as a message.
    """
    reader = csv.reader(io.StringIO(text))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                why = f"a field is longer than {csv.field_size_limit():,} characters"
            else:
                why = str(exc)
            raise UrlListError(f"line {reader.line_num} of the CSV cannot be read: {why}") from exc
        yield row


# ---------------------------------------------------------------- one download


# ---------------------------------------------------------------- many downloads into the dataset


def import_urls(
    store: DatasetStore,
    jobs: Iterable[UrlJob],
    settings: FetchSettings | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> UrlReport:
    """Download every address into its person's photos (people are added with their first photo:
    a person none of whose addresses gives a new photo is not added).

    Downloads run concurrently; photos are added one by one, so the dataset
    stays consistent. An address already imported is not downloaded again,
    and the same photo at another address is skipped by content.
    """
    settings = settings or FetchSettings.from_env()
    report = UrlReport()
    known = store.imported_urls()
    todo: list[UrlJob] = []
    for job in dict.fromkeys(jobs):  # the same (person, url) twice: once
        if job.url in known:
            report.skipped.append((job.person, job.url, f"already imported for {known[job.url]}"))
        else:
            todo.append(job)
    people = {p.name.casefold(): p.name for p in store.people()}
    for done, (job, future) in enumerate(_downloads(todo, settings), start=1):
        try:
            data = future.result()
            read_image(data, max_side=DETECTION_MAX_SIDE)  # the bytes must be a photo we read
        except FetchError as exc:
            report.failed.append((job.person, job.url, str(exc)))
        except ImageError as exc:
            report.failed.append((job.person, job.url, f"not a photo the app can read: {exc}"))
        except Exception as exc:  # one odd address must not end the whole import
            why = f"the download failed ({exc.__class__.__name__})"
            report.failed.append((job.person, job.url, why))
        else:
            _add_download(store, people, job, data, report)
        if progress:
            progress(done, len(todo))
    return report


def _add_download(
    store: DatasetStore, people: dict[str, str], job: UrlJob, data: bytes, report: UrlReport
) -> None:
    """Add one downloaded photo to its person, adding the person with it; ``people`` maps casefolded
    names to the dataset's names and gains the person added.

    A person this adds is removed again when the photo is not added (the same photo is already in
    the dataset, say): an import must not leave people with no photos behind.
    """
    key = job.person.casefold()
    person = people.get(key)
    new = person is None
    if new:
        person = store.add_person(job.person).name
    added = store.add_photo(person, data, _file_name(job.url), source=job.url)
    if added.added:
        report.added.append((person, job.url))
        people[key] = person
        return
    report.skipped.extend((person, job.url, why) for _, why in added.skipped)
    if new:
        store.delete_person(person)


def _downloads(jobs: list[UrlJob], settings: FetchSettings) -> Iterator[tuple[UrlJob, Future[bytes]]]:
    """Each job with its finished download, in order; a few downloads run ahead, not all of them
    (a long list must not hold every photo in memory at once)."""
    ahead = max(1, settings.workers) * 2
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        running: deque[tuple[UrlJob, Future[bytes]]] = deque()
        for job in jobs:
            running.append((job, pool.submit(fetch_image, job.url, settings)))
            if len(running) >= ahead:
                yield running.popleft()
        while running:
            yield running.popleft()


def _file_name(url: str) -> str:
    """The last part of the address's path, as a file name to show."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name[:120] or urlsplit(url).hostname or "download"
