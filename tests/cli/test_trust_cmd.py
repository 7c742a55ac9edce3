"""The signing workflow from the command line: keygen, keyring add, pack, sign, verify."""

from __future__ import annotations

import json
import stat
import zipfile
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from corral.cli.app import app
from tests.trust._crafted import make_plugin

runner = CliRunner()


def corral(*args):
    return runner.invoke(app, [str(a) for a in args])


def keygen(tmp_path, *extra):
    result = corral("keygen", "--out", tmp_path / "keys", *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.split()[1]


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    keyid = keygen(tmp_path)
    assert len(keyid) == 64
    mode = stat.S_IMODE((tmp_path / "keys" / "corral.key").stat().st_mode)
    assert mode == 0o600
    again = corral("keygen", "--out", tmp_path / "keys")
    assert again.exit_code == 1 and "not overwriting a key" in again.output


def test_rsa_1024_is_refused(tmp_path):
    result = corral("keygen", "--out", tmp_path, "--rsa", "1024")
    assert result.exit_code == 1
    assert "at least 2048" in result.output and "Traceback" not in result.output


def test_pack_sign_trust_and_verify_end_to_end(tmp_path):
    home = tmp_path / "home"
    keyid = keygen(tmp_path, "--rsa", "2048")
    plugin = make_plugin(tmp_path / "p", tier="professional")
    added = corral(
        "keyring", "add", tmp_path / "keys" / "corral.pub", "--publisher", "acme",
        "--tier", "professional", "--expires", "365d", "--home", home,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    archive = tmp_path / "p.corral"
    packed = corral(
        "pack", plugin, "--out", archive, "--key", tmp_path / "keys" / "corral.key",
        "--publisher", "acme",
    )  # fmt: skip
    assert packed.exit_code == 0, packed.output
    assert "corral.sig.json" in zipfile.ZipFile(archive).namelist()
    result = corral("verify", archive, "--home", home)
    assert result.exit_code == 0, result.output
    assert "tier proven: professional" in result.stdout
    assert f"keyid: {keyid}" in result.stdout and "files: 2" in result.stdout
    as_json = json.loads(corral("verify", archive, "--home", home, "--json").stdout)
    assert as_json["ok"] and as_json["tier"] == "professional" and as_json["publisher"] == "acme"

    revoked = corral("keyring", "revoke", keyid, "--home", home)
    assert revoked.exit_code == 0, revoked.output
    refused = corral("verify", archive, "--home", home)
    assert refused.exit_code == 1
    assert "was revoked" in refused.output and "Traceback" not in refused.output


def test_sign_a_directory_then_tamper(tmp_path):
    keygen(tmp_path)
    plugin = make_plugin(tmp_path / "p")
    signed = corral("sign", plugin, "--key", tmp_path / "keys" / "corral.key", "--publisher", "me")
    assert signed.exit_code == 0, signed.output
    ok = corral("verify", plugin, "--home", tmp_path / "home")
    assert ok.exit_code == 0 and "tier proven: community" in ok.stdout  # self-signed
    (plugin / "main.py").write_text("print('changed')\n")
    bad = corral("verify", plugin, "--home", tmp_path / "home")
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        "refused: main.py does not match its signed SHA-256 (changed after signing)"
    ]


def test_bad_expiry_and_bad_tier_are_one_line_errors(tmp_path):
    keygen(tmp_path)
    plugin = make_plugin(tmp_path / "p")
    key = tmp_path / "keys" / "corral.key"
    bad = corral("sign", plugin, "--key", key, "--publisher", "me", "--expires", "soon")
    assert bad.exit_code == 1 and "--expires 'soon'" in bad.output
    pub = tmp_path / "keys" / "corral.pub"
    tier = corral("keyring", "add", pub, "--publisher", "me", "--tier", "gold", "--home", tmp_path)
    assert tier.exit_code == 1 and "--tier 'gold'" in tier.output


def test_keyring_add_refuses_a_key_valid_for_less_than_90_days(tmp_path):
    home = tmp_path / "home"
    keygen(tmp_path)
    pub = tmp_path / "keys" / "corral.pub"
    short = corral("keyring", "add", pub, "--publisher", "acme", "--tier", "professional",
                   "--expires", "30d", "--home", home)
    assert short.exit_code == 1 and "Traceback" not in short.output
    assert "valid for 30.0 days" in short.output and "at least 90 days" in short.output
    assert not (home / "keyring.toml").exists()

    soon = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    dated = corral("keyring", "add", pub, "--publisher", "acme", "--tier", "professional",
                   "--expires", soon, "--home", home)
    assert dated.exit_code == 1 and "at least 90 days" in dated.output

    later = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()
    ok = corral("keyring", "add", pub, "--publisher", "acme", "--tier", "professional",
                "--expires", later, "--home", home)
    assert ok.exit_code == 0, ok.output
    assert f"until {later}" in corral("keyring", "list", "--home", home).stdout
    bad = corral("keyring", "add", pub, "--publisher", "acme", "--tier", "professional",
                 "--expires", "next year", "--home", home)
    assert bad.exit_code == 1 and "expected a date like 2027-06-30" in bad.output
