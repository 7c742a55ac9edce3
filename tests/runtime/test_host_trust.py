"""Host.load runs manifest -> verify -> store -> grant, on real packages and real workers."""

from __future__ import annotations

import os
import zipfile

import pytest

import corral
from corral.trust import Keyring, ReviewStore, keys, pack
from tests.conftest import SABOTAGE
from tests.trust._crafted import MANIFEST, entry_for, make_plugin, sign

pytestmark = pytest.mark.pen

CODE = """\
import os

import corral


class Hello(corral.Plugin):
    def hello(self):
        return "original"

    def crash(self):
        os._exit(3)
"""


@pytest.fixture(scope="module")
def key():
    return keys.generate()


def plugin(tmp_path, *, tier="community", version="1.0.0"):
    root = make_plugin(tmp_path / f"hello-{version}", tier=tier, version=version)
    (root / "main.py").write_text(CODE)
    return root


def trust_key(home, key, tier="professional"):
    Keyring(path=home / "keyring.toml").with_entry(entry_for(key, tier=tier)).save()


def reviewed(home, *versions):
    """Professional and enterprise versions run only once reviewed (seed 001)."""
    for version in versions or ("1.0.0",):
        ReviewStore(home / "corral.db").add(
            "signed-hello", version, level="internal", notes="read it", reviewer="tests"
        )


def kinds(audit):
    return [e.kind for e in audit.events]


def test_signed_archive_loads_with_its_tier_in_order(host, home, audit, tmp_path, key):
    trust_key(home, key)
    reviewed(home)
    archive = pack(
        plugin(tmp_path, tier="professional"), tmp_path / "h.corral", key=key, publisher="acme"
    )
    handle = host.load(archive)
    assert handle.call("hello") == "original"
    assert handle.grant.tier == "professional"
    order = [k for k in kinds(audit) if k in ("signature.verified", "grant", "worker.started")]
    assert order == ["signature.verified", "grant", "worker.started"]
    verified = next(e for e in audit.events if e.kind == "signature.verified")
    assert verified.details["keyid"] == keys.keyid(key.public_key())
    assert handle.store_dir.parent == home / "store"


def test_toctou_a_file_changed_after_load_never_runs(host, tmp_path):
    root = plugin(tmp_path)
    handle = host.load(root)
    (root / "main.py").write_text(CODE.replace('"original"', '"tampered"'))
    assert handle.call("hello") == "original"
    with pytest.raises(corral.PluginCrashed):
        handle.call("crash")
    assert handle.call("hello") == "original"  # a fresh worker, from the store copy


def test_toctou_signed_reload_runs_the_verified_bytes(host, home, tmp_path, key):
    trust_key(home, key)
    reviewed(home)
    root = plugin(tmp_path, tier="professional")
    sign(root, key)
    host.load(root).close()
    (root / "main.py").write_text(CODE.replace('"original"', '"tampered"'))
    again = host.load(root)  # the envelope was verified before: a lookup, no re-read
    assert again.call("hello") == "original"


def test_tampered_signed_package_is_refused_and_recorded(host, home, audit, tmp_path, key):
    trust_key(home, key)
    root = plugin(tmp_path, tier="professional")
    sign(root, key)
    (root / "main.py").write_text(CODE.replace('"original"', '"tampered"'))
    with pytest.raises(corral.SignatureError, match=r"main\.py does not match its signed"):
        host.load(root)
    failed = next(e for e in audit.events if e.kind == "signature.failed")
    refused = next(e for e in audit.events if e.kind == "plugin.refused")
    assert failed.decision == refused.decision == "deny"
    assert "main.py does not match" in refused.details["error"]
    assert "worker.started" not in kinds(audit)
    assert not (home / "store").exists() or not os.listdir(home / "store")


def test_revoked_key_is_refused(host, home, tmp_path, key):
    Keyring(path=home / "keyring.toml").with_entry(entry_for(key, revoked=True)).save()
    root = plugin(tmp_path, tier="professional")
    sign(root, key)
    with pytest.raises(corral.SignatureError, match="was revoked"):
        host.load(root)


def test_rollback_through_the_host(host, home, tmp_path, key):
    trust_key(home, key)
    reviewed(home, "1.2.0", "1.1.0")
    newer = plugin(tmp_path, tier="professional", version="1.2.0")
    sign(newer, key)
    host.load(newer).close()
    older = plugin(tmp_path, tier="professional", version="1.1.0")
    sign(older, key)
    with pytest.raises(corral.SignatureError, match="rollback"):
        host.load(older)


def test_zip_slip_archive_is_refused_before_anything_is_written(host, home, audit, tmp_path):
    archive = tmp_path / "slip.corral"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("plugin.yaml", MANIFEST.format(name="slip", version="1.0.0", tier="community"))
        z.writestr("main.py", CODE)
        z.writestr("../../escaped.py", "x = 1\n")
    with pytest.raises(corral.TrustError, match="climbs out of the package"):
        host.load(archive)
    assert not (tmp_path.parent / "escaped.py").exists()
    assert any(e.kind == "plugin.refused" and e.plugin == "slip" for e in audit.events)


def test_shadowing_pyc_is_refused(host, tmp_path):
    root = plugin(tmp_path)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x00" * 16)
    with pytest.raises(corral.TrustError, match="__pycache__"):
        host.load(root)


def test_professional_asked_community_proven_is_granted_community_with_a_reason(
    host, home, audit, tmp_path, key
):
    trust_key(home, key, tier="community")
    root = plugin(tmp_path, tier="professional")
    sign(root, key)
    handle = host.load(root)
    assert handle.grant.tier == "community"
    notes = next(e for e in audit.events if e.kind == "grant").details["notes"]
    assert any("the signature proves community" in n for n in notes)


def test_explicit_keyring_path(home, audit, tmp_path, key):
    ring = tmp_path / "elsewhere.toml"
    Keyring(path=ring).with_entry(entry_for(key, tier="enterprise")).save()
    reviewed(home)
    root = plugin(tmp_path, tier="enterprise")
    sign(root, key)
    with corral.Host(home=home, audit=audit, keyring=ring, unsafe_disable_layers=SABOTAGE) as h:
        assert h.load(root).grant.tier == "enterprise"


def test_unsigned_load_records_its_digest_and_no_signature(host, audit, tmp_path):
    handle = host.load(plugin(tmp_path))
    loaded = next(e for e in audit.events if e.kind == "plugin.loaded")
    assert loaded.details["digest"] == handle.store_dir.name
    assert (loaded.details["signed"], loaded.details["tier"]) == (False, "community")
    assert "signature.verified" not in kinds(audit)
