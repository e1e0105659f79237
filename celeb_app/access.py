"""Who may change things: the owner (everything) or a visitor (the Classify page only).

Decided again on every script run, from the connection and the session:

- a browser on the machine the app runs on (a direct loopback connection,
  without proxy headers) is the owner, unless ``local_owner = false`` is set
  in the ``[celeb]`` secrets or the app runs on Streamlit Community Cloud;
- a session that typed the owner password (its salted hash is
  ``owner_password_hash`` in the ``[celeb]`` secrets) is the owner until it
  locks again;
- where ``[auth]`` is configured, a user logged in with ``st.login`` whose
  e-mail is in ``owner_emails`` is the owner.

Everyone else is a visitor. Pages only show visitors what they may use; the
dataset and models folders a visitor's session opens are read-only
(:func:`celeb_app.resources.store`), so a stale widget or a crafted rerun cannot
change anything either.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from celeb import PasswordGuard, ReadOnlyError
from celeb_app import uploads

logger = logging.getLogger("celeb_app")

#: Headers a reverse proxy adds: with any of them, a loopback connection is someone else's.
PROXY_HEADERS = frozenset(
    {
        "forwarded",
        "via",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "x-client-ip",
        "x-original-forwarded-for",
        "cf-connecting-ip",
        "true-client-ip",
        "fastly-client-ip",
    }
)

#: Host names of a page opened on this machine.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_UNLOCKED = "_owner_unlocked"
_SESSION_KEY = "_access_key"

HOW_TO_UNLOCK = (
    "Editing (the Dataset and Train pages) is for the app's owner: open the app on the computer it runs "
    "on, or unlock it with the owner password in the sidebar. The owner sets that password with "
    "`python -m celeb hash-password` (see docs/deploy.md)."
)


class Role(StrEnum):
    OWNER = "owner"
    VISITOR = "visitor"


@dataclass(frozen=True)
class Connection:
    """What the server knows of a browser's connection."""

    ip: str | None  # Streamlit reports loopback connections as None
    header_names: frozenset[str]  # lower-case
    host: str = "localhost"  # the Host header's name, without the port

    @property
    def direct_loopback(self) -> bool:
        """From this machine, with no proxy in between (as far as headers tell).

        The page must also have been opened as localhost: a web page that
        re-binds its own domain name to 127.0.0.1 (DNS rebinding) reaches the
        app over loopback too, but with its own name in the Host header.
        """
        if self.header_names & PROXY_HEADERS or self.host not in LOCAL_HOSTS:
            return False
        return self.ip is None or is_loopback(self.ip)


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` is this machine, IPv4-mapped IPv6 included.

    A dual-stack server sees a browser at ``127.0.0.1`` as ``::ffff:127.0.0.1``,
    which :mod:`ipaddress` does not call loopback (Python 3.11, 3.12).

    >>> is_loopback("::ffff:127.0.0.1"), is_loopback("127.0.0.2"), is_loopback("::1")
    (True, True, True)
    >>> is_loopback("::ffff:203.0.113.7"), is_loopback("203.0.113.7"), is_loopback("not an address")
    (False, False, False)
    """
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@dataclass(frozen=True)
class AccessSettings:
    """The ``[celeb]`` secrets that decide who is the owner."""

    password_hash: str = ""
    owner_emails: frozenset[str] = frozenset()
    local_owner: bool = True
    login_configured: bool = False  # an [auth] section exists, so st.login works
    problem: str = ""  # why the secrets could not be read (nobody is owner then)

    @classmethod
    def from_secrets(cls, secrets: Mapping) -> AccessSettings:
        section = secrets.get("celeb", {}) or {}
        emails = section.get("owner_emails", ())
        if isinstance(emails, str):
            emails = [emails]
        local = section.get("local_owner", True)
        return cls(
            password_hash=str(section.get("owner_password_hash", "") or "").strip(),
            owner_emails=frozenset(str(e).strip().casefold() for e in emails if str(e).strip()),
            local_owner=local if isinstance(local, bool) else str(local).lower() not in ("false", "0", "no"),
            login_configured="auth" in secrets,
        )


@dataclass(frozen=True)
class Access:
    """A session's role, and how it got it (for the sidebar)."""

    role: Role
    how: str = ""

    @property
    def owner(self) -> bool:
        return self.role is Role.OWNER


def decide(
    connection: Connection,
    settings: AccessSettings,
    *,
    unlocked: bool = False,
    email: str | None = None,
    cloud: bool = False,
    agent_api: bool = False,
) -> Access:
    """The role of a session (a pure function of what it is given).

    >>> local = Connection(None, frozenset())
    >>> decide(local, AccessSettings()).role
    <Role.OWNER: 'owner'>
    >>> proxied = Connection(None, frozenset({"x-forwarded-for"}))
    >>> decide(proxied, AccessSettings()).role
    <Role.VISITOR: 'visitor'>
    >>> decide(local, AccessSettings(), cloud=True).role
    <Role.VISITOR: 'visitor'>

    With Streamlit's agent API on, every agent session looks like a local
    browser (no address, no proxy headers), whoever sent it:

    >>> decide(local, AccessSettings(), agent_api=True).role
    <Role.VISITOR: 'visitor'>
    """
    if email and email.casefold() in settings.owner_emails:
        return Access(Role.OWNER, f"logged in as {email}")
    if unlocked and settings.password_hash:
        return Access(Role.OWNER, "unlocked with the owner password")
    if settings.local_owner and not cloud and not agent_api and connection.direct_loopback:
        return Access(Role.OWNER, "on the computer the app runs on")
    return Access(Role.VISITOR)


# ---------------------------------------------------------------- this session


def on_streamlit_cloud() -> bool:
    """Whether the app runs on Streamlit Community Cloud (files there vanish on restart)."""
    if os.environ.get("CELEB_ON_CLOUD"):  # lets tests and staging say so explicitly
        return os.environ["CELEB_ON_CLOUD"] not in ("0", "false", "no")
    return "streamlit" in os.environ.get("HOSTNAME", "").lower() or Path.cwd().as_posix().startswith(
        "/mount/src"
    )


def agent_api_enabled() -> bool:
    """Whether Streamlit's agent API (``server.enableAgentApi``) serves this app.

    Its sessions carry no client address, so anyone who reaches the port
    would look like a browser on this computer: nobody is owner by
    connection while it is on.
    """
    try:
        return bool(st.get_option("server.enableAgentApi"))
    except Exception:  # an older Streamlit without the option has no agent API
        return False


def settings() -> AccessSettings:
    """The access settings from Streamlit secrets; the safe defaults when there are none."""
    try:
        return AccessSettings.from_secrets(st.secrets)
    except FileNotFoundError:  # no secrets file at all (StreamlitSecretNotFoundError is one)
        return AccessSettings()
    except Exception as exc:  # a malformed secrets.toml: say so, and nobody becomes owner by it
        logger.warning("the secrets cannot be read: %s", exc)
        return AccessSettings(local_owner=False, problem=f"The app's secrets cannot be read ({exc}).")


def client_ip() -> str | None:
    """The browser's address as the server sees it (None for loopback)."""
    ip = st.context.ip_address
    return ip if ip is None or isinstance(ip, str) else "unknown"


def request_headers() -> Mapping[str, str]:
    """Headers of the request that opened this session's connection."""
    return st.context.headers


def connection() -> Connection:
    headers = request_headers()
    names = frozenset(str(name).lower() for name in headers)
    return Connection(client_ip(), names, host_name(headers.get("host") or headers.get("Host") or ""))


def host_name(host: str) -> str:
    """The name part of a Host header ("localhost:8501" -> "localhost", "[::1]:8501" -> "::1").

    >>> host_name("LocalHost:8501"), host_name("[::1]:8501"), host_name("evil.example:8501")
    ('localhost', '::1', 'evil.example')
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def logged_in_email() -> str | None:
    """The e-mail of a user logged in with st.login (only where [auth] is configured)."""
    try:
        user = st.user
        if not user.is_logged_in:
            return None
        if user.get("email_verified") is False:
            return None
        email = user.get("email")
    except Exception:  # no [auth] section, or an identity provider without e-mails
        return None
    return str(email) if email else None


def current() -> Access:
    """This session's role, decided now."""
    config = settings()
    access = decide(
        connection(),
        config,
        unlocked=bool(st.session_state.get(_UNLOCKED)),
        email=logged_in_email() if config.login_configured and config.owner_emails else None,
        cloud=on_streamlit_cloud(),
        agent_api=agent_api_enabled(),
    )
    context = get_script_run_ctx()
    if context is not None:  # the upload limits know visitors from owners by it
        uploads.record_role(context.session_id, access.owner)
    return access


def is_owner() -> bool:
    return current().owner


def require_owner_action() -> None:
    """Raise :class:`ReadOnlyError` unless this session is the owner (for actions outside the engine)."""
    if not is_owner():
        raise ReadOnlyError("only the app's owner can do this: unlock editing in the sidebar first")


@st.cache_resource(show_spinner=False)
def _guard() -> PasswordGuard:
    """One guard for every session: wrong passwords slow their own session down, and checks
    queue fairly over all sessions (two at a time, each costs 16 MB) instead of locking anyone out."""
    return PasswordGuard()


def _session_key() -> str:
    return st.session_state.setdefault(_SESSION_KEY, uuid.uuid4().hex)


def try_password(password: str) -> str | None:
    """Unlock this session with the owner password; None on success, else what to tell the user."""
    config = settings()
    if not config.password_hash:
        return "No owner password is set for this app."
    outcome = _guard().attempt(_session_key(), password, config.password_hash)
    if not outcome.checked:
        return f"Too many wrong passwords. Try again in {math.ceil(outcome.wait)} s."
    if outcome.right:
        st.session_state[_UNLOCKED] = True
        return None
    if outcome.wait > 0:
        return f"Wrong password. Wait {math.ceil(outcome.wait)} s before the next try."
    return "Wrong password."  # its check waited in the queue longer than this session's pause


def lock() -> None:
    st.session_state.pop(_UNLOCKED, None)


def sidebar_panel() -> None:
    """The sidebar's editing panel: who you are here, and how to unlock or lock."""
    access = current()
    config = settings()
    if config.problem:
        st.sidebar.error(config.problem, icon=":material/error:")
    if agent_api_enabled() and config.local_owner and not access.owner:
        st.sidebar.caption(
            ":material/smart_toy: Streamlit's agent API is on (`server.enableAgentApi`), so a browser on "
            "this computer is not the owner by its connection: unlock editing below."
        )
    if not access.owner:
        st.sidebar.caption(":material/lock: You are a visitor: you can classify photos. Owner? Unlock below.")
    with st.sidebar.expander(
        "Editing: on" if access.owner else "Owner: unlock editing",
        icon=":material/lock_open:" if access.owner else ":material/key:",
        expanded=False,
    ):
        if access.owner:
            st.caption(f"You are the owner ({access.how}).")
            if st.session_state.get(_UNLOCKED):
                st.button("Lock editing", key="lock_editing", on_click=lock, icon=":material/lock:")
            if logged_in_email() and config.login_configured:
                st.button("Log out", key="log_out", on_click=st.logout, icon=":material/logout:")
            return
        if config.password_hash:
            with st.form("unlock", clear_on_submit=True, border=False):
                password = st.text_input("Owner password", type="password", max_chars=1024)
                if st.form_submit_button("Unlock editing", icon=":material/key:"):
                    problem = try_password(password)
                    if problem is None:
                        st.rerun()
                    st.error(problem, icon=":material/error:")
        if config.login_configured and config.owner_emails:
            if logged_in_email():
                st.caption("This account is not one of the owner's.")
                st.button("Log out", key="log_out", on_click=st.logout, icon=":material/logout:")
            else:
                st.button("Log in as the owner", key="log_in", on_click=st.login, icon=":material/login:")
        if not config.password_hash and not (config.login_configured and config.owner_emails):
            st.caption(
                "No owner password is set: editing works only in a browser on the computer the app "
                "runs on. To edit from elsewhere, set one with `python -m celeb hash-password`."
            )
