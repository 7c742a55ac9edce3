"""Administrator accounts: scrypt hashes in corral.db, never the password itself."""

from __future__ import annotations

import sqlite3

import pytest

from corral.dashboard.accounts import Accounts, check_password, hash_password
from corral.errors import HostError


def test_a_hash_is_salted_and_checks_only_the_right_password():
    first, second = hash_password("a good long password"), hash_password("a good long password")
    assert first != second  # fresh salt each time
    assert first.startswith("scrypt$")
    assert check_password("a good long password", first)
    assert not check_password("a good long passwore", first)


@pytest.mark.parametrize("stored", ["", "plain", "md5$1$2$3$00$00", "scrypt$x$8$1$00$00"])
def test_a_malformed_stored_hash_never_matches(stored):
    assert not check_password("anything", stored)


def test_accounts_live_in_their_own_table_with_roles(tmp_path):
    accounts = Accounts(tmp_path / "corral.db")
    accounts.add("alice", "a good long password")
    accounts.add("rita", "another long password", "read-only")
    assert accounts.authenticate("alice", "a good long password").can_change
    assert not accounts.authenticate("rita", "another long password").can_change
    assert accounts.authenticate("alice", "wrong password here") is None
    assert accounts.authenticate("nobody", "a good long password") is None
    rows = (
        sqlite3.connect(tmp_path / "corral.db")
        .execute("SELECT name, role, password FROM dashboard_admins ORDER BY name")
        .fetchall()
    )
    assert [(n, r) for n, r, _ in rows] == [("alice", "admin"), ("rita", "read-only")]
    assert all("long password" not in p for _, _, p in rows)


def test_adding_again_resets_the_password(tmp_path):
    accounts = Accounts(tmp_path / "corral.db")
    accounts.add("alice", "the first password")
    accounts.add("alice", "the second password")
    assert accounts.authenticate("alice", "the first password") is None
    assert accounts.authenticate("alice", "the second password") is not None


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("alice", "short", "admin", "too short"),
        ("<script>", "a good long password", "admin", "not allowed"),
        ("alice", "a good long password", "root", "unknown role"),
    ],
)
def test_bad_accounts_are_refused_with_a_clear_error(tmp_path, name, password, role, message):
    with pytest.raises(HostError, match=message):
        Accounts(tmp_path / "corral.db").add(name, password, role)
