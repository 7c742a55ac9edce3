"""The cross-check against declared permissions, blocking by tier, host-side suppressions."""

from corral.manifest import load_manifest
from corral.policy import AdminPolicy, Manifest, Permission
from corral.policy.admin import RECOMMENDED_BLOCK
from corral.vetting import Report, vet_plugin, vet_source
from corral.vetting.report import declares
from tests.vetting.conftest import blocking_policy

SPAWN = "import subprocess\n\n\ndef go():\n    subprocess.run(['/bin/ls'])\n"


def manifest(*permissions: str) -> Manifest:
    return Manifest(
        name="tool",
        version="1.0.0",
        entry="tool",
        permissions=tuple(Permission.parse(p) for p in permissions),
    )


def report(source: str, *permissions: str, policy: AdminPolicy | None = None) -> Report:
    m = manifest(*permissions)
    return Report.build(
        m.name, m.version, vet_source(source, "tool.py"), m.permissions, policy=policy
    )


def test_an_undeclared_permission_is_an_error_naming_file_line_and_permission():
    r = report(SPAWN)
    (finding,) = r.undeclared
    assert r.explain_undeclared(finding) == (
        "uses subprocess.run at tool.py:5 but plugin.yaml grants no subprocess:execute"
    )


def test_a_declared_permission_makes_the_finding_informational():
    r = report(SPAWN, "subprocess:execute=/bin/ls")
    assert r.undeclared == ()
    assert [f.rule for f in r.findings] == ["CRL201"]
    assert r.blocking(blocking_policy(), "community") == []


def test_scoped_needs_are_matched_by_scope():
    env = "import os\nos.environ['API_TOKEN']\n"
    assert report(env, "env:read=API_TOKEN").undeclared == ()
    assert report(env, "env:read=API_*").undeclared == ()
    assert len(report(env, "env:read=OTHER_TOKEN").undeclared) == 1


def test_file_write_implies_delete():
    perms = [Permission.parse("file:write=$WORK/**")]
    assert declares(perms, "file:delete")
    assert not declares(perms, "network:connect")


def test_blocking_depends_on_the_tier():
    r = report("import pickle\npickle.loads(b'')\n")  # high, no permission involved
    policy = blocking_policy()
    assert [f.rule for f in r.blocking(policy, "community")] == ["CRL601"]
    assert r.blocking(policy, "professional") == []
    strict = AdminPolicy.from_dict({"vetting": {"block": {"professional": ["high"]}}})
    assert [f.rule for f in r.blocking(strict, "professional")] == ["CRL601"]


def test_undeclared_use_blocks_unless_the_policy_says_otherwise():
    r = report(SPAWN)
    assert [f.rule for f in r.blocking(blocking_policy(), "enterprise")] == ["CRL201"]
    relaxed = AdminPolicy.from_dict({"vetting": {"block_undeclared": ["community"]}})
    assert r.blocking(relaxed, "enterprise") == []


def test_findings_below_the_confidence_floor_do_not_block():
    r = report("p = '/usr/lib/python3/site-packages'\nimport pickle\npickle.loads(b'')\n")
    assert [f.rule for f in r.blocking(blocking_policy(), "community")] == ["CRL502", "CRL601"]
    sure = AdminPolicy.from_dict(
        {"vetting": {"block": RECOMMENDED_BLOCK, "block_confidence": "high"}}
    )
    assert [f.rule for f in r.blocking(sure, "community")] == ["CRL601"]


def test_suppressions_match_by_plugin_version_rule_and_fingerprint():
    (finding,) = vet_source(SPAWN, "tool.py")
    rule = {"plugin": "tool", "rule": "CRL201", "fingerprint": finding.fingerprint}
    exact = AdminPolicy.from_dict({"vetting": {"suppressions": [rule]}})
    r = report(SPAWN, policy=exact)
    assert (r.findings, len(r.suppressed), r.undeclared) == ((), 1, ())

    for miss in (
        {**rule, "fingerprint": "0" * 32},
        {**rule, "version": "2.0.0"},
        {**rule, "plugin": "other"},
        {**rule, "digest": "abc"},
    ):
        r = report(SPAWN, policy=AdminPolicy.from_dict({"vetting": {"suppressions": [miss]}}))
        assert [f.rule for f in r.findings] == ["CRL201"], miss


def test_a_suppression_survives_the_code_moving_down(tmp_path):
    (finding,) = vet_source(SPAWN, "tool.py")
    policy = AdminPolicy.from_dict(
        {"vetting": {"suppressions": [{"plugin": "tool", "rule": "CRL201",
                                       "fingerprint": finding.fingerprint}]}}
    )
    assert report("\n\n# moved\n" + SPAWN, policy=policy).findings == ()


def test_vet_plugin_reads_the_tree_and_names_the_manifest_file(bad):
    m = load_manifest(bad)
    r = vet_plugin(bad, m, blocking_policy(), "community")
    assert r.files == len(list(bad.iterdir()))
    assert r.manifest_file == "plugin.yaml"
    undeclared = {r.explain_undeclared(f) for f in r.undeclared}
    assert "uses os.system at process.py:14 but plugin.yaml grants no subprocess:execute" in undeclared
    # declared in the fixture's manifest: file:write=$WORK/** covers deletion
    assert not any(f.needs == "file:delete" for f in r.undeclared)


def test_a_literal_url_needs_its_own_host_and_port():
    code = "import urllib.request\nurllib.request.urlopen('https://exfil.example.net/drop')\n"
    r = report(code, "network:connect=api.example.com:443")
    (finding,) = r.undeclared
    assert r.explain_undeclared(finding).endswith(
        "grants no network:connect=exfil.example.net:443"
    )
    assert report(code, "network:connect=exfil.example.net:443").undeclared == ()


def test_declaring_full_network_covers_every_connection():
    code = "import socket\nsocket.create_connection(('203.0.113.1', 25))\n"
    findings = vet_source(code, "tool.py")
    assert Report.build("tool", "1.0.0", findings, (), network="full").undeclared == ()
    internal = Report.build("tool", "1.0.0", findings, (), network="internal")
    assert {f.rule for f in internal.undeclared} == {"CRL401", "CRL403"}
