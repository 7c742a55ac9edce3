"""The keyring file: TOML in, TOML out, and every mistake named by entry and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import tomli_w

from corral.errors import SignatureError, TrustError
from corral.trust import Keyring
from corral.trust.keyring import MIN_KEY_VALIDITY

from ._crafted import entry_for, make_plugin, sign


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


# --- seed 001: a signing key is valid for at least 90 days --------------------------------


def test_a_key_valid_for_less_than_90_days_is_refused(ed_key):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"valid for 89\.0 days .* at least 90 days"):
        entry_for(ed_key, not_before=start, not_after=start + timedelta(days=89))
    entry = entry_for(ed_key, not_before=start, not_after=start + timedelta(days=90))
    assert entry.not_after - entry.not_before == MIN_KEY_VALIDITY


def test_a_keyring_file_listing_a_short_lived_key_is_refused(tmp_path, ed_key):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    good = entry_for(ed_key, not_before=start, not_after=start + timedelta(days=365))
    doc = good.model_dump(exclude_none=True) | {"not_after": start + timedelta(days=30)}
    (tmp_path / "k.toml").write_text(tomli_w.dumps({"key": [doc]}))
    with pytest.raises(TrustError, match=r"key\[0\]: key .* valid for 30\.0 days"):
        Keyring.load(tmp_path / "k.toml")


def test_a_key_past_its_window_no_longer_verifies(tmp_path, ed_key, verifier_for):
    """A 120-day key verifies inside its window and is refused the day after it ends."""
    plugin = make_plugin(tmp_path / "p", tier="professional")
    start = datetime.now(UTC) - timedelta(days=1)
    sign(plugin, ed_key, start=start, days=400)
    entry = entry_for(ed_key, not_before=start, not_after=start + timedelta(days=120))
    today = datetime.now(UTC).timestamp()
    assert verifier_for(entry, clock=lambda: today).verify(plugin).tier == "professional"
    later = (start + timedelta(days=121)).timestamp()
    with pytest.raises(SignatureError, match=r"expired on"):
        verifier_for(entry, clock=lambda: later).verify(plugin)
