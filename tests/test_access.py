"""Tests for celeb_app.access: who is the owner (connection, password, login) and who is a visitor."""

from __future__ import annotations

import pytest

from celeb_app.access import AccessSettings, Connection, Role, decide

LOCAL = Connection(None, frozenset({"host", "user-agent"}))


@pytest.mark.parametrize(
    ("connection", "owner"),
    [
        (LOCAL, True),
        (Connection("127.0.0.1", frozenset()), True),
        (Connection("::1", frozenset()), True),
        # A dual-stack server sees a browser at 127.0.0.1 as an IPv4-mapped address.
        (Connection("::ffff:127.0.0.1", frozenset(), "127.0.0.1"), True),
        (Connection("::ffff:127.0.0.1", frozenset({"x-forwarded-for"}), "127.0.0.1"), False),
        (Connection("::ffff:203.0.113.9", frozenset()), False),
        (Connection(None, frozenset({"x-forwarded-for"})), False),
        (Connection(None, frozenset({"forwarded"})), False),
        (Connection("127.0.0.1", frozenset({"x-real-ip"})), False),
        (Connection("203.0.113.9", frozenset()), False),
        (Connection("192.168.1.20", frozenset()), False),
        (Connection("unknown", frozenset()), False),
    ],
)
def test_only_a_direct_loopback_connection_is_the_owner_by_default(connection, owner):
    assert decide(connection, AccessSettings()).owner is owner


def test_loopback_owner_can_be_turned_off_and_is_off_on_the_cloud():
    assert decide(LOCAL, AccessSettings(local_owner=False)).role is Role.VISITOR
    assert decide(LOCAL, AccessSettings(), cloud=True).role is Role.VISITOR


def test_nobody_is_owner_by_connection_while_the_agent_api_is_on():
    # Agent sessions carry no address: from anywhere they would look like LOCAL.
    assert decide(LOCAL, AccessSettings(), agent_api=True).role is Role.VISITOR
    unlocked = decide(LOCAL, AccessSettings(password_hash="scrypt$..."), unlocked=True, agent_api=True)
    assert unlocked.owner  # the password still unlocks


def test_an_unlocked_session_is_owner_only_while_a_password_is_set():
    remote = Connection("203.0.113.9", frozenset({"x-forwarded-for"}))
    assert decide(remote, AccessSettings(password_hash="scrypt$..."), unlocked=True).owner
    assert not decide(remote, AccessSettings(password_hash=""), unlocked=True).owner


def test_a_logged_in_owner_email_is_the_owner_and_others_are_not():
    remote = Connection("203.0.113.9", frozenset({"x-forwarded-for"}))
    settings = AccessSettings(owner_emails=frozenset({"me@example.org"}), login_configured=True)
    assert decide(remote, settings, email="Me@Example.org").owner
    assert not decide(remote, settings, email="someone@example.org").owner


def test_settings_from_secrets():
    settings = AccessSettings.from_secrets(
        {
            "celeb": {"owner_password_hash": " scrypt$x ", "owner_emails": ["A@b.org"], "local_owner": False},
            "auth": {"redirect_uri": "https://x/oauth2callback"},
        }
    )
    assert settings == AccessSettings("scrypt$x", frozenset({"a@b.org"}), False, True)
    assert AccessSettings.from_secrets({}) == AccessSettings()


def test_a_page_rebound_to_loopback_under_another_name_is_a_visitor():
    # DNS rebinding: evil.example resolves to 127.0.0.1, so the connection is loopback,
    # but the Host header still names evil.example.
    rebound = Connection(None, frozenset({"host"}), host="evil.example")
    assert decide(rebound, AccessSettings()).role is Role.VISITOR
    for name in ("localhost", "127.0.0.1", "::1"):
        assert decide(Connection(None, frozenset({"host"}), host=name), AccessSettings()).owner
