"""Loading from disk: bounded before parsing, no symlinks out, one error listing every issue."""

import os

import pytest

from corral.errors import ManifestError, PolicyError
from corral.limits import Limits
from corral.manifest import load_manifest, load_policy, parse_manifest
from corral.policy import default_policy

GOOD = b"name: tiny\nversion: 0.1.0\nentry: tiny:Tiny\n"


def only_message(exc_info):
    [issue] = exc_info.value.issues
    return issue.message


def test_allow_a_manifest_within_the_bound():
    assert parse_manifest(GOOD, "plugin.yaml").name == "tiny"
    assert (
        parse_manifest(GOOD, "plugin.yaml", limits=Limits(manifest_bytes=len(GOOD))).name == "tiny"
    )


def test_deny_a_10_mb_manifest_before_it_is_parsed():
    # Invalid YAML from the first byte: a parse would report a syntax error, not the size.
    huge = b"[" * (10 * 1024 * 1024)
    with pytest.raises(ManifestError) as caught:
        parse_manifest(huge, "plugin.yaml")
    assert (
        only_message(caught)
        == "10485760 bytes is over the 262144-byte limit; refused before parsing"
    )


def test_deny_a_10_mb_manifest_file_without_reading_it(tmp_path):
    with open(tmp_path / "plugin.yaml", "wb") as f:
        f.truncate(10 * 1024 * 1024)  # sparse: refusing must not need its contents
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)
    assert "refused before parsing" in only_message(caught)


def test_the_bound_comes_from_limits():
    with pytest.raises(ManifestError) as caught:
        parse_manifest(GOOD, "plugin.yaml", limits=Limits(manifest_bytes=len(GOOD) - 1))
    assert "refused before parsing" in only_message(caught)


def test_deny_a_manifest_symlinked_to_a_file_outside_the_plugin(tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("name: TOPSECRET-value\n")
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "plugin.yaml").symlink_to(secret)
    with pytest.raises(ManifestError) as caught:
        load_manifest(plugin)
    assert "cannot open" in only_message(caught)
    assert "TOPSECRET" not in str(caught.value)


def test_allow_a_regular_manifest_file(tmp_path):
    (tmp_path / "plugin.yaml").write_bytes(GOOD)
    assert load_manifest(tmp_path).entry == "tiny:Tiny"


def test_deny_a_manifest_that_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "plugin.yaml")
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)
    assert only_message(caught) == "not a regular file"


def test_plugin_yaml_is_preferred_to_plugin_json(tmp_path):
    (tmp_path / "plugin.yaml").write_bytes(GOOD)
    (tmp_path / "plugin.json").write_text('{"name": "other", "version": "1.0.0", "entry": "o"}')
    assert load_manifest(tmp_path).name == "tiny"
    (tmp_path / "plugin.yaml").unlink()
    assert load_manifest(tmp_path).name == "other"


def test_no_manifest(tmp_path):
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)
    assert only_message(caught) == "no manifest: expected plugin.yaml or plugin.json here"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfename: x", "not UTF-8 text (byte 0)"),
        (b"- a\n- b\n", "a manifest is a mapping of fields (name, version, entry, ...)"),
    ],
)
def test_not_a_manifest(data, message):
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, "plugin.yaml")
    assert only_message(caught) == message


def test_a_utf8_bom_is_accepted():
    assert parse_manifest(b"\xef\xbb\xbf" + GOOD, "plugin.yaml").name == "tiny"


def test_load_policy_defaults_and_file(tmp_path):
    assert load_policy(None) == default_policy()
    path = tmp_path / "corral-policy.yaml"
    path.write_text(
        "tiers:\n  community:\n    limits:\n      memory_mb: 128\nblocked_commands: [rm]\n"
    )
    policy = load_policy(path)
    assert policy.tier("community").limits.memory_mb == 128
    assert policy.blocked_commands == ("rm",)


def test_load_policy_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "corral-policy.yaml"
    path.write_text("deny:\n  - file:read=/etc/**\nplugins:\n  w:\n    grant:\n      - fiel:read\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert (
        str(caught.value)
        == f"{path}:6 plugins.w.grant[0]: unknown domain 'fiel'; did you mean 'file'?"
    )


def test_load_policy_refuses_unsafe_yaml_and_missing_files(tmp_path):
    path = tmp_path / "corral-policy.yaml"
    path.write_text("deny: &d [x]\nagain: *d\n")
    with pytest.raises(PolicyError, match="anchors and aliases are not allowed"):
        load_policy(path)
    with pytest.raises(PolicyError, match="cannot open"):
        load_policy(tmp_path / "absent.yaml")
