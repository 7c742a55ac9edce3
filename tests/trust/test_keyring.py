"""The keyring file: TOML in, TOML out, and every mistake named by entry and field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import tomli_w

from corral.errors import TrustError
from corral.trust import Keyring

from ._crafted import entry_for


def test_round_trip(tmp_path, ed_key, rsa_key):
    ring = Keyring(path=tmp_path / "keyring.toml")
    ring = ring.with_entry(entry_for(ed_key, tier="enterprise", publisher="verified-inc"))
    ring = ring.with_entry(
        entry_for(rsa_key, revoked=True, revoked_at=datetime(2026, 5, 1, tzinfo=UTC))
    )
    ring.save()
    loaded = Keyring.load(tmp_path / "keyring.toml")
    assert loaded.entries == ring.entries


def test_missing_file_is_an_empty_keyring(tmp_path):
    assert Keyring.load(tmp_path / "none.toml").entries == ()


def test_a_keyid_that_is_not_the_keys_id_is_refused(tmp_path, ed_key):
    entry = entry_for(ed_key).model_dump(exclude_none=True)
    entry["keyid"] = "0" * 64
    (tmp_path / "k.toml").write_text(tomli_w.dumps({"key": [entry]}))
    with pytest.raises(TrustError, match=r"key\[0\]: .*is not the id of its public_key"):
        Keyring.load(tmp_path / "k.toml")


def test_bad_tier_is_named(tmp_path):
    (tmp_path / "k.toml").write_text('[[key]]\nkeyid = "x"\npublisher = "p"\ntier = "gold"\n')
    with pytest.raises(TrustError, match=r"key\[0\]\.tier"):
        Keyring.load(tmp_path / "k.toml")


def test_not_toml(tmp_path):
    (tmp_path / "k.toml").write_text("[[key]\n")
    with pytest.raises(TrustError, match=r"not valid TOML"):
        Keyring.load(tmp_path / "k.toml")


def test_a_keyring_others_may_write_is_refused(tmp_path, ed_key):
    path = Keyring(path=tmp_path / "k.toml").with_entry(entry_for(ed_key)).save()
    path.chmod(0o666)
    with pytest.raises(TrustError, match="writable by group or others"):
        Keyring.load(path)
