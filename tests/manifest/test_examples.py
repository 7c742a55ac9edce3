"""Every example plugin validates, or fails with exactly the documented messages."""

import importlib.util
from pathlib import Path

import pytest

import corral
from corral.errors import ManifestError
from corral.manifest import load_manifest, parse_manifest
from corral.policy import default_policy, grant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


def granted(name):
    m = load_manifest(EXAMPLES / name)
    return m, grant(m, default_policy())


def entry_class(name, manifest):
    spec = importlib.util.spec_from_file_location(
        f"_example_{manifest.entry_module}", EXAMPLES / name / f"{manifest.entry_module}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, manifest.entry_attr)


@pytest.mark.parametrize("name", ["weather-report", "gao-example", "kari-extension"])
def test_each_valid_example_has_a_plugin_class_at_its_entry(name):
    manifest = load_manifest(EXAMPLES / name)
    assert issubclass(entry_class(name, manifest), corral.Plugin)


def test_the_well_behaved_example_is_granted_everything_it_asks_and_nothing_is_cut():
    m, g = granted("weather-report")
    assert g.permissions == m.permissions
    assert (g.dropped, g.clamped, g.notes) == ((), (), ())
    assert (g.tier, g.network) == ("community", "restricted")
    assert [str(d) for d in g.denies] == ["file:read=data/secrets/**"]


def test_seed_003s_permissions_as_is():
    m, g = granted("gao-example")
    assert [str(p) for p in m.permissions] == ["file:read", "file:write", "hook:register"]
    assert [str(p) for p in g.permissions] == [
        "file:read=**",
        "file:read=$WORK/**",
        "file:write=$WORK/**",
        "hook:register",
    ]
    assert [(c[0], c[1], c[2]) for c in g.clamped] == [
        ("memory_mb", 500, 256),
        ("cpu_percent", 80, 25),
        ("call_timeout_seconds", 300, 30),
    ]


def test_seed_000s_json_manifest_as_is():
    m, g = granted("kari-extension")
    assert [str(p) for p in m.permissions] == [
        "data:read",
        "data:write",
        "plugin:execute",
        "file:read",
        "file:write",
        "system:logs",
    ]
    assert m.network == "restricted"
    assert (m.limits.memory_mb, m.limits.cpu_percent, m.limits.disk_mb) == (256, 15, 512)
    assert g.dropped == (
        ("data:write", "the community tier does not allow data:write; narrowed to data:read"),
        ("plugin:execute", "the community tier does not allow plugin:execute"),
        ("system:logs", "the community tier does not allow system:logs"),
    )
    assert (
        "disk_mb",
        512,
        100,
        "asked 512 MB is above the community tier ceiling of 100 MB",
    ) in g.clamped


EVERY_MISTAKE = [
    (
        1,
        "name",
        "'Every_Mistake' is not a plugin name: lower-case letters, digits and dashes, starting with a letter or digit, at most 64 characters",
    ),
    (2, "version", "'one' is not a semantic version like 1.2.0"),
    (
        3,
        "entry",
        "'every mistake' is not an entry point: 'module:Attribute' or 'module' (Python identifiers, module relative to the plugin directory)",
    ),
    (6, "permissions[1]", "unknown action 'reed' for domain 'file'; did you mean 'read'?"),
    (7, "permissions[2]", "unknown domain 'fiel'; did you mean 'file'?"),
    (8, "permissions[3]", "'api.example.com' needs host:port, e.g. api.example.com:443"),
    (9, "permissions[4]", "'..' is not allowed in path scope '../../etc/passwd'"),
    (10, "permissions[5]", "'git' must be an absolute path such as /usr/bin/git"),
    (
        11,
        "permissions[6]",
        "'MY-VAR' is not an environment variable name (letters, digits, _; a trailing * for a prefix)",
    ),
    (12, "permissions[7]", "empty scope after '=' in 'file:write='"),
    (13, "permissions[8]", "unknown permission constant 'FROBNICATE_ALL'"),
    (14, "permissions[9]", "expected a permission like 'file:read=data/**', got int"),
    (16, "deny[0]", "port '99999' must lie within 1-65535 with low <= high"),
    (
        17,
        "tier",
        "'comunity' is not a tier (community, professional, enterprise); did you mean 'community'?",
    ),
    (18, "network", "'everywhere' is not a network level (none, internal, restricted, full)"),
    (20, "limits.memory_mb", "expected a whole number, got 'lots'"),
    (21, "limits.cpu_percent", "must be greater than 0, got 0"),
    (22, "limits.memory_gb", "unknown field 'memory_gb'; did you mean 'memory_mb'?"),
    (23, "permisions", "unknown field 'permisions'; did you mean 'permissions'?"),
]


def test_the_every_mistake_manifest_lists_every_issue_with_its_line():
    path = EXAMPLES / "every-mistake" / "plugin.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifest(path.parent)
    assert {i.file for i in caught.value.issues} == {str(path)}
    assert [(i.line, i.field, i.message) for i in caught.value.issues] == EVERY_MISTAKE


def test_the_documented_message():
    data = (EXAMPLES / "every-mistake" / "plugin.yaml").read_bytes()
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, "plugin.yaml")
    assert (
        "plugin.yaml:7 permissions[2]: unknown domain 'fiel'; did you mean 'file'?"
        in str(caught.value).splitlines()
    )
