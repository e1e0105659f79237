"""Photos from the web: one image address downloaded safely (lists of them and their import
into the dataset: celeb.url_import).

The app may run on a public server, so a download must not become a way to
reach the server's own network: only http and https; every address a host
name resolves to must be public (not private, loopback, link-local,
multicast, reserved ...), checked again after every redirect; the connection
goes to the address that was checked, so a second DNS answer cannot swap it.
The deadline covers everything, host name lookups too.
The ``host:port`` pairs named in ``CELEB_ALLOWED_HOSTS`` (tests, a local
image server) are exempt from the address check, nothing else, and only for
an address that starts there: a redirect from elsewhere cannot enter them.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from .config import (
    FETCH_MAX_BYTES,
    FETCH_MAX_REDIRECTS,
    FETCH_TIMEOUT_SECONDS,
    FETCH_WORKERS,
    MAX_DNS_LOOKUPS,
    allowed_hosts,
    parse_host_port,
)
from .errors import CelebError

#: Sent with every request: some image hosts refuse Python's default agent.
USER_AGENT = "celeb-photo-import/1.0 (+https://github.com/; image download for a face dataset)"


#: Characters left as they are when an address's path and query are percent-encoded.
_URL_SAFE = "/%:@!$&'()*+,;=~-._"

#: Content types that may hold an image (servers that do not know what they serve).
_BINARY_TYPES = ("application/octet-stream", "binary/octet-stream")


class FetchError(CelebError):
    """A photo could not be downloaded (the message says why)."""


@dataclass(frozen=True)
class FetchSettings:
    """Limits of a download. ``allowed_hosts``: (host, port) pairs, or ``"host:port"`` strings,
    that skip the public-address check when an address starts there."""

    timeout: float = FETCH_TIMEOUT_SECONDS  # the whole download: lookup, connecting, redirects, reading
    max_bytes: int = FETCH_MAX_BYTES
    max_redirects: int = FETCH_MAX_REDIRECTS
    workers: int = FETCH_WORKERS
    allowed_hosts: frozenset[tuple[str, int]] = frozenset()

    def __post_init__(self) -> None:
        # "host:port" strings are accepted for convenience; a bare host raises ValueError here.
        pairs = frozenset(parse_host_port(e) if isinstance(e, str) else e for e in self.allowed_hosts)
        object.__setattr__(self, "allowed_hosts", pairs)

    @classmethod
    def from_env(cls) -> FetchSettings:
        """Defaults, with ``CELEB_ALLOWED_HOSTS`` (comma-separated ``host:port`` entries)."""
        return cls(allowed_hosts=allowed_hosts())


def fetch_image(url: str, settings: FetchSettings | None = None) -> bytes:
    """The bytes at ``url``, following at most ``max_redirects`` redirects.

    Raises :class:`FetchError` for a refused address, a timeout, an HTTP
    error, a body over ``max_bytes``, or a response that is not an image.
    """
    settings = settings or FetchSettings()
    deadline = time.monotonic() + settings.timeout
    origin: tuple[str, int] | None = None
    left_origin = False
    for _ in range(settings.max_redirects + 1):
        scheme, host, port, path = _request_target(url)
        origin = origin or (host, port)
        left_origin = left_origin or (host, port) != origin
        # An exemption holds only while the chain stays where the address started: a
        # public server that redirects into an exempt host:port would reach it for anyone.
        exempt = not left_origin and origin in settings.allowed_hosts
        status, headers, body = _get(scheme, host, port, path, exempt, settings, deadline)
        if status in (301, 302, 303, 307, 308):
            location = headers.get("location")
            if not location:
                raise FetchError(f"the server answered {status} without saying where to")
            try:
                url = urljoin(url, location)
            except ValueError as exc:
                raise FetchError("the server redirected to a malformed address") from exc
            continue
        if status != 200:
            raise FetchError(f"the server answered {status} {http.client.responses.get(status, '')}".rstrip())
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and not (kind.startswith("image/") or kind in _BINARY_TYPES):
            raise FetchError(f"the address gives {kind}, not an image")
        return body
    raise FetchError(f"more than {settings.max_redirects} redirects")


def _request_target(url: str) -> tuple[str, str, int, str]:
    """Scheme, host (ASCII), port and path-with-query of an address; FetchError when malformed."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if not scheme:
            raise FetchError(
                f"{_shown(url)!r} is not a web address (it should start with http:// or https://)"
            )
        if scheme not in ("http", "https"):
            raise FetchError(f"only http and https addresses can be downloaded, not {scheme!r}")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchError("the address has no host")
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
        port = parts.port or (443 if scheme == "https" else 80)
    except (ValueError, UnicodeError) as exc:
        raise FetchError(f"the address is malformed ({exc})") from exc
    # Non-ASCII paths are sent percent-encoded, as a browser would.
    path = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_URL_SAFE + "?")
    return scheme, host, port, path


def _shown(url: str, limit: int = 80) -> str:
    """The address as typed, cut to ``limit`` characters: a message must stay one readable line."""
    url = url.strip()
    return url if len(url) <= limit else url[: limit - 1] + "…"


def _get(
    scheme: str, host: str, port: int, path: str, exempt: bool, settings: FetchSettings, deadline: float
) -> tuple[int, dict[str, str], bytes]:
    address = _checked_address(host, port, exempt, settings, deadline)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _too_slow(settings)
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = _PinnedHTTPS(host, address, port, timeout=remaining)
    else:
        connection = _PinnedHTTP(host, address, port, timeout=remaining)
    # Per-read timeouts do not bound a server that trickles headers or sends
    # endless interim answers: at the deadline the socket is shut, whatever it is doing.
    watchdog = threading.Timer(remaining, _shut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        if response.status != 200:
            return response.status, headers, b""
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_bytes:
            raise FetchError(
                f"the file is {int(length) / 2**20:.1f} MB, over {settings.max_bytes / 2**20:.0f} MB"
            )
        return response.status, headers, _read_capped(connection, response, settings, deadline)
    except FetchError:
        raise
    except TimeoutError as exc:
        raise FetchError(f"no answer within {settings.timeout:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise _too_slow(settings) from exc
        if isinstance(exc, ssl.SSLError):
            raise FetchError(f"the secure connection failed ({exc.reason or exc})") from exc
        raise FetchError(f"the download failed ({exc.__class__.__name__}: {exc})") from exc
    finally:
        watchdog.cancel()
        connection.close()


def _too_slow(settings: FetchSettings) -> FetchError:
    return FetchError(f"the download took longer than {settings.timeout:g} s")


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _read_capped(
    connection: http.client.HTTPConnection,
    response: http.client.HTTPResponse,
    settings: FetchSettings,
    deadline: float,
) -> bytes:
    chunks, size = [], 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _too_slow(settings)
        if connection.sock is not None:  # a server that trickles bytes must not outlast the deadline
            connection.sock.settimeout(remaining)
        chunk = response.read1(64 * 1024)
        if not chunk:
            if time.monotonic() >= deadline:  # the watchdog shut the socket
                raise _too_slow(settings)
            return b"".join(chunks)
        size += len(chunk)
        if size > settings.max_bytes:
            raise FetchError(f"the file is over {settings.max_bytes / 2**20:.0f} MB")
        chunks.append(chunk)


def _checked_address(host: str, port: int, exempt: bool, settings: FetchSettings, deadline: float) -> str:
    """An address of ``host`` to connect to; FetchError unless every address is public (or ``exempt``)."""
    addresses = _resolve(host, port, settings, deadline)
    if exempt:
        return addresses[0]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        for inner in (ip, *_embedded_ipv4(ip)):
            if not inner.is_global or inner.is_multicast or getattr(inner, "is_site_local", False):
                raise FetchError(
                    f"{host} is a private or local address ({inner}); downloads only go to public addresses"
                )
    return addresses[0]


#: Lookups running now, abandoned ones included (see MAX_DNS_LOOKUPS).
_LOOKUPS = threading.BoundedSemaphore(MAX_DNS_LOOKUPS)


def _getaddrinfo(host: str, port: int) -> list[tuple]:
    """The resolver (a seam: tests put a slow one here)."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _resolve(host: str, port: int, settings: FetchSettings, deadline: float) -> list[str]:
    """The addresses of ``host``, or FetchError once the deadline has passed.

    getaddrinfo cannot be given a timeout (a lookup took 25 s of a 10 s
    deadline), so it runs in a thread that is waited for until the deadline
    and then abandoned; it still holds a place in ``_LOOKUPS`` until it ends.
    """
    with contextlib.suppress(ValueError):  # an address needs no lookup, nor a place among them
        return [str(ipaddress.ip_address(host))]
    lookups = _LOOKUPS  # the one released, even if the module's is swapped meanwhile
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not lookups.acquire(timeout=remaining):
        raise _slow_lookup(host, settings)
    outcome: list = []
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(_getaddrinfo(host, port))
        except BaseException as exc:  # handed to the waiting download, if it still waits
            outcome.append(exc)
        finally:
            lookups.release()
            done.set()

    try:
        # A daemon thread: an abandoned lookup must not hold up the program's exit.
        threading.Thread(target=lookup, name=f"lookup {host}", daemon=True).start()
    except BaseException:
        lookups.release()
        raise
    if not done.wait(max(deadline - time.monotonic(), 0.0)):
        raise _slow_lookup(host, settings)
    result = outcome[0]
    if isinstance(result, (socket.gaierror, UnicodeError)) or not result:
        raise FetchError(f"the host {host!r} is not known") from result
    if isinstance(result, BaseException):
        raise FetchError(f"looking up {host!r} failed ({result.__class__.__name__})") from result
    return [info[4][0] for info in result]


def _slow_lookup(host: str, settings: FetchSettings) -> FetchError:
    return FetchError(f"looking up {host} took longer than {settings.timeout:g} s")


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, IPv4-compatible)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    inner = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64 or ip in _NAT64_LOCAL or int(ip) >> 32 == 0:
        inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in inner if address is not None]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address; sends the host name in the Host header."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """Connects to the checked address; verifies the certificate against the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
