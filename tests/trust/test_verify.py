"""The verification pipeline, refusal by refusal, on real crafted packages."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from corral.errors import SignatureError, TrustError
from corral.limits import DEFAULT_LIMITS
from corral.policy import AdminPolicy, grant
from corral.trust import SIGNATURE_FILE, keys, pack
from corral.trust.dsse import PAYLOAD_TYPE, pae

from ._crafted import entry_for, make_plugin, sign


def test_good_ed25519_signature_proves_the_keys_tier(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    verified = verifier_for(entry_for(ed_key, tier="professional")).verify(plugin)
    assert (verified.tier, verified.publisher, verified.signed) == ("professional", "acme", True)
    assert verified.keyid == keys.keyid(ed_key.public_key())
    assert verified.file_count == 2


def test_good_rsa_pss_signature_on_an_archive(tmp_path, rsa_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="enterprise")
    archive = pack(plugin, tmp_path / "p.corral", key=rsa_key, publisher="big-co")
    verified = verifier_for(entry_for(rsa_key, tier="enterprise", publisher="big-co")).verify(
        archive
    )
    assert verified.tier == "enterprise" and verified.publisher == "big-co"


def test_rsa_pkcs1v15_sha256_signature_is_accepted_for_seed_001(tmp_path, rsa_key, verifier_for):
    """Seed 001 signs SHA256withRSA: PKCS#1 v1.5 over SHA-256. Re-sign the envelope that way."""
    plugin = make_plugin(tmp_path / "p", tier="professional")
    envelope_file = sign(plugin, rsa_key)
    doc = json.loads(envelope_file.read_bytes())
    payload = base64.b64decode(doc["payload"])
    sig = rsa_key.sign(pae(PAYLOAD_TYPE, payload), padding.PKCS1v15(), hashes.SHA256())
    doc["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    envelope_file.write_text(json.dumps(doc))
    assert verifier_for(entry_for(rsa_key)).verify(plugin).tier == "professional"


def test_rsa_1024_keys_are_refused_everywhere(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(SignatureError, match=r"1024 bits refused"):
        entry_for(small)
    with pytest.raises(SignatureError, match=r"at least 2048"):
        keys.generate(1024)
    with pytest.raises(SignatureError, match=r"1024 bits refused"):
        sign(make_plugin(tmp_path / "p"), small)


def test_tampered_file_after_signing(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    (plugin / "main.py").write_text("import os; os.system('evil')\n")
    with pytest.raises(SignatureError, match=r"main.py does not match its signed SHA-256"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_extra_unlisted_file(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    (plugin / "extra.py").write_text("x = 1\n")
    with pytest.raises(SignatureError, match=r"extra.py is in the package but not in the signed"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_missing_listed_file(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional", **{"util.py": b"y = 2\n"})
    sign(plugin, ed_key)
    (plugin / "util.py").unlink()
    with pytest.raises(
        SignatureError, match=r"util.py is listed in the signed statement but missing"
    ):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_wrong_key_a_key_id_alone_is_never_trusted(tmp_path, ed_key, other_key, verifier_for):
    """The envelope names the trusted key's id, but the signature was made by another key."""
    plugin = make_plugin(tmp_path / "p", tier="professional")
    envelope_file = sign(plugin, other_key)
    doc = json.loads(envelope_file.read_bytes())
    doc["signatures"][0]["keyid"] = keys.keyid(ed_key.public_key())
    envelope_file.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match=r"does not verify with keyring key"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_key_not_in_keyring_cannot_vouch_for_professional(
    tmp_path, other_key, ed_key, verifier_for
):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, other_key)
    with pytest.raises(SignatureError, match=r"is not in the keyring.*asks for the professional"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_unlisted_key_without_its_public_key_is_refused(tmp_path, other_key, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    envelope_file = sign(plugin, other_key)
    doc = json.loads(envelope_file.read_bytes())
    del doc["signatures"][0]["publicKey"]
    envelope_file.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match=r"which is not in the keyring"):
        verifier_for().verify(plugin)


def test_self_signed_community_is_pinned_on_first_install(
    tmp_path, ed_key, other_key, verifier_for
):
    first = make_plugin(tmp_path / "v1")
    sign(first, ed_key)
    verifier = verifier_for()
    verified = verifier.verify(first)
    assert (verified.tier, verified.listed) == ("community", False)
    verifier.install(verified)
    second = make_plugin(tmp_path / "v2", version="1.1.0")
    sign(second, other_key)
    with pytest.raises(SignatureError, match=r"first installed signed by key .* \(pinned\)"):
        verifier.verify(second)
    unsigned = make_plugin(tmp_path / "v3", version="1.2.0")
    with pytest.raises(
        SignatureError, match=r"was installed signed by key .*; this package is unsigned"
    ):
        verifier.verify(unsigned)


def test_unsigned_is_community_with_a_digest(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    verified = verifier_for().verify(plugin)
    assert (verified.tier, verified.signed, len(verified.digest)) == ("community", False, 64)


def test_revoked_key(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    revoked = entry_for(ed_key, revoked=True, revoked_at=datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(SignatureError, match=r"was revoked on 2026-03-01"):
        verifier_for(revoked).verify(plugin)


def test_expired_key(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    old = entry_for(ed_key, not_after=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(SignatureError, match=r"expired on"):
        verifier_for(old).verify(plugin)


def test_expired_signature(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key, start=datetime.now(UTC) - timedelta(days=10), days=5)
    with pytest.raises(SignatureError, match=r"the signature expired on"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_not_yet_valid_signature(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key, start=datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(SignatureError, match=r"the signature is not valid before"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_rollback_install_1_2_then_1_1(tmp_path, ed_key, verifier_for):
    verifier = verifier_for(entry_for(ed_key))
    newer = make_plugin(tmp_path / "new", version="1.2.0", tier="professional")
    sign(newer, ed_key)
    verifier.install(verifier.verify(newer))
    older = make_plugin(tmp_path / "old", version="1.1.0", tier="professional")
    sign(older, ed_key)
    with pytest.raises(
        SignatureError, match=r"rollback: signed-hello 1.1.0 is older than the installed 1.2.0"
    ):
        verifier.verify(older)


def test_statement_for_another_version_is_refused(tmp_path, ed_key, verifier_for):
    """A signed statement replayed with a changed manifest: the manifest bytes no longer match."""
    plugin = make_plugin(tmp_path / "p", version="1.0.0", tier="professional")
    sign(plugin, ed_key)
    (plugin / "plugin.yaml").write_text(
        (plugin / "plugin.yaml").read_text().replace("1.0.0", "9.0.0")
    )
    with pytest.raises(SignatureError, match=r"plugin.yaml does not match"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_payload_is_not_parsed_before_the_signature_checks(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    envelope_file = sign(plugin, ed_key)
    doc = json.loads(envelope_file.read_bytes())
    doc["payload"] = base64.b64encode(b"{not json").decode()
    envelope_file.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match=r"does not verify"):
        verifier_for(entry_for(ed_key)).verify(plugin)


@pytest.mark.parametrize(
    "member",
    ["__pycache__/main.cpython-311.pyc", "main.pyc", "evil.pth", "_speedups.so"],
)
def test_shadowing_compiled_and_startup_files_are_refused(tmp_path, verifier_for, member):
    plugin = make_plugin(tmp_path / "p", **{member: b"\x00compiled"})
    with pytest.raises(TrustError, match=r"not accepted"):
        verifier_for().verify(plugin)


def test_native_extension_allowed_for_a_verified_publisher(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="enterprise", **{"_speedups.so": b"\x7fELF"})
    sign(plugin, ed_key)
    assert verifier_for(entry_for(ed_key, tier="enterprise")).verify(plugin).tier == "enterprise"
    with pytest.raises(TrustError, match=r".so files are not accepted at the professional tier"):
        verifier_for(entry_for(ed_key, tier="professional")).verify(plugin)


def test_professional_manifest_signed_by_community_key_is_granted_community(
    tmp_path, ed_key, verifier_for
):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    verified = verifier_for(entry_for(ed_key, tier="community")).verify(plugin, AdminPolicy())
    granted = grant(verified.manifest, AdminPolicy(), signature_tier=verified.tier)
    assert granted.tier == "community"
    assert any("the signature proves community" in note for note in granted.notes)


def test_professional_manifest_refused_when_the_admin_pins_its_tier(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    policy = AdminPolicy.from_dict({"plugins": {"signed-hello": {"tier": "professional"}}})
    with pytest.raises(SignatureError, match=r"pins signed-hello at the professional tier"):
        verifier_for(entry_for(ed_key, tier="community")).verify(plugin, policy)


def test_a_policy_can_require_signatures_even_for_community(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    policy = AdminPolicy.from_dict({"tiers": {"community": {"signature": "trusted-signer"}}})
    with pytest.raises(SignatureError, match=r"requires a trusted-signer signature"):
        verifier_for().verify(plugin, policy)


def test_second_verification_of_an_installed_package_is_a_lookup(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional", **{"lib/a.py": b"a = 1\n"})
    sign(plugin, ed_key)
    verifier = verifier_for(entry_for(ed_key))
    first = verifier.verify(plugin)
    assert (first.files_hashed, first.cached) == (3, False)
    verifier.install(first)
    again = verifier.verify(plugin)
    assert (again.files_hashed, again.cached, again.digest) == (0, True, first.digest)
    assert verifier.install(again) == verifier.store.path(first.digest)


def test_cached_lookup_still_checks_revocation(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    sign(plugin, ed_key)
    verifier = verifier_for(entry_for(ed_key))
    verifier.install(verifier.verify(plugin))
    revoked = verifier_for(entry_for(ed_key, revoked=True))
    with pytest.raises(SignatureError, match=r"was revoked"):
        revoked.verify(plugin)


def test_envelope_file_is_not_a_subject(tmp_path, ed_key):
    plugin = make_plugin(tmp_path / "p")
    envelope_file = sign(plugin, ed_key)
    payload = json.loads(base64.b64decode(json.loads(envelope_file.read_bytes())["payload"]))
    names = [s["name"] for s in payload["subject"]]
    assert names == ["main.py", "plugin.yaml"] and SIGNATURE_FILE not in names
    assert payload["_type"] == "https://in-toto.io/Statement/v1"
    assert os.path.basename(envelope_file) == SIGNATURE_FILE


def _signed_statement(plugin, key, files):
    """An envelope over a hand-made statement, signed by ``key`` (what an attacker can craft)."""
    from corral.trust import statement
    from corral.trust.dsse import Envelope, Signature

    now = datetime.now(UTC)
    payload = statement.build(
        files,
        name="signed-hello",
        version="1.0.0",
        publisher="acme",
        not_before=now - timedelta(minutes=1),
        expires=now + timedelta(days=1),
    )
    sig = Signature(keys.keyid(key.public_key()), keys.sign(key, pae(PAYLOAD_TYPE, payload)))
    (plugin / SIGNATURE_FILE).write_bytes(Envelope(PAYLOAD_TYPE, payload, (sig,)).to_json())


def test_signed_statement_naming_a_path_outside_is_refused(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    _signed_statement(plugin, ed_key, {"../../etc/cron.d/x": "0" * 64})
    with pytest.raises(TrustError, match="climbs out of the package"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_signed_statement_with_a_duplicate_subject_is_refused(tmp_path, ed_key, verifier_for):
    plugin = make_plugin(tmp_path / "p", tier="professional")
    _signed_statement(plugin, ed_key, {"main.py": "0" * 64})
    envelope = json.loads((plugin / SIGNATURE_FILE).read_bytes())
    doc = json.loads(base64.b64decode(envelope["payload"]))
    doc["subject"].append(doc["subject"][0])
    payload = json.dumps(doc).encode()
    envelope["payload"] = base64.b64encode(payload).decode()
    sig = keys.sign(ed_key, pae(PAYLOAD_TYPE, payload))
    envelope["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    (plugin / SIGNATURE_FILE).write_text(json.dumps(envelope))
    with pytest.raises(SignatureError, match=r"lists 'main\.py' more than once"):
        verifier_for(entry_for(ed_key)).verify(plugin)


def test_an_oversized_envelope_is_refused_before_parsing(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    (plugin / SIGNATURE_FILE).write_bytes(b" " * (DEFAULT_LIMITS.envelope_bytes + 1))
    with pytest.raises(TrustError, match=r"corral\.sig\.json.*; at most 4194304"):
        verifier_for().verify(plugin)


def test_rsa_1024_self_signed_envelope_is_refused(tmp_path, verifier_for):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from corral.trust import statement
    from corral.trust.dsse import Envelope, Signature

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    plugin = make_plugin(tmp_path / "p")
    now = datetime.now(UTC)
    files = {n: keys.sha256_hex((plugin / n).read_bytes()) for n in ("main.py", "plugin.yaml")}
    payload = statement.build(
        files,
        name="signed-hello",
        version="1.0.0",
        publisher="tiny",
        not_before=now - timedelta(minutes=1),
        expires=now + timedelta(days=1),
    )
    sig = small.sign(pae(PAYLOAD_TYPE, payload), padding.PKCS1v15(), hashes.SHA256())
    public = small.public_key()
    entry = Signature(keys.keyid(public), sig, keys.public_pem(public))
    (plugin / SIGNATURE_FILE).write_bytes(Envelope(PAYLOAD_TYPE, payload, (entry,)).to_json())
    with pytest.raises(SignatureError, match="RSA key of 1024 bits refused"):
        verifier_for().verify(plugin)
