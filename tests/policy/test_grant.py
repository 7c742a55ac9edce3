"""Grant.check(): the decision the guard asks for on every operation, allow and deny in pairs."""

import os

import msgpack
import pytest

from corral.policy import AdminPolicy, Grant, Manifest, Permission, Request, default_policy, grant

PLUGIN, WORK = "/run/corral/plugin", "/run/corral/work"


def make(permissions=(), denies=(), network="restricted", **kw):
    g = Grant(
        plugin="p",
        tier="community",
        permissions=tuple(Permission.parse(p) for p in permissions),
        denies=tuple(Permission.parse(p) for p in denies),
        network=network,
        **kw,
    )
    return g.with_roots(PLUGIN, WORK)


def allowed(g, domain, action, target=""):
    return g.check(Request(domain, action, target)).allowed


# --- files ------------------------------------------------------------------


def test_allow_read_inside_a_granted_glob():
    g = make(["file:read=data/**"])
    assert allowed(g, "file", "read", f"{PLUGIN}/data/stations.json")
    assert allowed(g, "file", "read", f"{PLUGIN}/data")  # listing the directory itself


@pytest.mark.parametrize(
    "target",
    [
        f"{PLUGIN}/data/../plugin.yaml",
        f"{PLUGIN}/data/../../../etc/passwd",
        f"{PLUGIN}/database.db",
        f"{PLUGIN}/data/x/../../secret",
        "/etc/passwd",
        "data/stations.json",
    ],
)
def test_deny_read_outside_the_glob_however_the_path_is_spelled(target):
    g = make(["file:read=data/**"])
    assert not allowed(g, "file", "read", target)


def test_allow_odd_spellings_that_normalise_inside():
    g = make(["file:read=data/**"])
    assert allowed(g, "file", "read", f"{PLUGIN}//data/./x/../y.csv/")


def test_deny_beats_allow():
    g = make(["file:read=data/**"], denies=["file:read=data/secrets/**"])
    decision = g.check(Request("file", "read", f"{PLUGIN}/data/secrets/token.txt"))
    assert not decision.allowed
    assert "denied by 'file:read=data/secrets/**'" in decision.reason
    assert allowed(g, "file", "read", f"{PLUGIN}/data/public.csv")
    assert not allowed(g, "file", "read", f"{PLUGIN}/data/public/../secrets/token.txt")


def test_write_implies_read_and_delete_but_not_the_reverse():
    g = make(["file:write=$WORK/**", "file:read=data/**"])
    for action in ("write", "read", "delete"):
        assert allowed(g, "file", action, f"{WORK}/cache/x.json")
    assert not allowed(g, "file", "write", f"{PLUGIN}/data/x.json")
    assert not allowed(g, "file", "delete", f"{PLUGIN}/data/x.json")


def test_a_read_deny_also_refuses_writes_there():
    g = make(["file:write=$WORK/**"], denies=["file:read=$WORK/keys/**"])
    assert not allowed(g, "file", "write", f"{WORK}/keys/k")
    assert allowed(g, "file", "delete", f"{WORK}/keys/k")  # deleting does not read
    assert allowed(g, "file", "write", f"{WORK}/other")


def test_relative_and_work_scopes_match_nothing_until_roots_are_bound():
    unbound = Grant(
        plugin="p", tier="community", permissions=(Permission.parse("file:read=data/**"),)
    )
    assert not unbound.check(Request("file", "read", "/data/x")).allowed
    with pytest.raises(ValueError, match="needs with_roots"):
        unbound.read_globs()


def test_a_denial_names_the_manifest_line_that_would_allow_it():
    g = make(["file:read=data/**"])
    assert g.check(Request("file", "read", "/etc/hosts")).rule == "file:read=/etc/hosts"
    assert g.check(Request("file", "write", f"{PLUGIN}/data/x")).rule == "file:write=data/x"
    assert g.check(Request("file", "write", f"{WORK}/x")).rule == "file:write=$WORK/x"
    assert (
        g.check(Request("network", "connect", "example.org:443")).rule
        == "network:connect=example.org:443"
    )
    assert g.check(Request("data", "write")).rule == "data:write"


def test_an_allowance_names_the_rule_that_gave_it():
    g = make(["file:write=$WORK/**"])
    assert g.check(Request("file", "read", f"{WORK}/x")).rule == "file:write=$WORK/**"


# --- network ----------------------------------------------------------------


def test_allow_connect_to_a_granted_host_and_subdomains_of_a_wildcard():
    g = make(["network:connect=api.weather.gov:443", "network:connect=*.weather.com:443"])
    assert allowed(g, "network", "connect", "api.weather.gov:443")
    assert allowed(g, "network", "connect", "tiles.weather.com:443")


@pytest.mark.parametrize(
    "target",
    [
        "api.weather.gov:80",
        "weather.com:443",
        "evil-weather.com:443",
        "weather.com.evil.net:443",
        "127.0.0.1:443",
        "2130706433:443",
        "not a target",
    ],
)
def test_deny_connect_anywhere_else(target):
    g = make(["network:connect=api.weather.gov:443", "network:connect=*.weather.com:443"])
    assert not allowed(g, "network", "connect", target)


@pytest.mark.parametrize(
    "target", ["127.0.0.1:443", "[::1]:443", "localhost:443", "2130706433:443"]
)
def test_deny_loopback_even_through_a_host_wildcard(target):
    assert not allowed(make(["network:connect=*:443"]), "network", "connect", target)


def test_private_addresses_only_when_granted_by_address():
    assert not allowed(make(["network:connect=*:*"]), "network", "connect", "10.0.0.5:5432")
    assert allowed(make(["network:connect=10.0.0.0/8:5432"]), "network", "connect", "10.0.0.5:5432")


def test_network_levels():
    none = make(["network:connect=api.weather.gov:443"], network="none")
    assert not allowed(none, "network", "connect", "api.weather.gov:443")
    internal = make(network="internal")
    assert allowed(internal, "network", "connect", "127.0.0.1:8080")
    assert not allowed(internal, "network", "connect", "8.8.8.8:53")
    full = make(denies=["network:connect=*.evil.com:*"], network="full")
    assert allowed(full, "network", "connect", "8.8.8.8:53")
    assert not allowed(full, "network", "connect", "c2.evil.com:443")


# --- processes, environment, app permissions ---------------------------------


def test_allow_exec_of_the_exact_path_only():
    g = make(["subprocess:execute=/usr/bin/git"])
    assert allowed(g, "subprocess", "execute", "/usr/bin/git")
    assert not allowed(g, "subprocess", "execute", "/usr/bin/git-shell")
    assert not allowed(g, "subprocess", "execute", "/usr/bin/../bin/sh")


def test_exec_links_are_resolved_on_the_grant_side(tmp_path):
    real = tmp_path / "real" / "tool"
    real.parent.mkdir()
    real.write_text("#!/bin/sh\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").symlink_to(real)
    g = Grant(
        plugin="p",
        tier="community",
        permissions=(Permission("subprocess", "execute", str(tmp_path / "bin" / "tool")),),
    )
    bound = g.with_roots(PLUGIN, WORK, resolve=os.path.realpath)
    assert allowed(bound, "subprocess", "execute", str(real))
    assert not allowed(g.with_roots(PLUGIN, WORK), "subprocess", "execute", str(real))
    assert str(real) in bound.exec_paths()


def test_env_and_app_permissions():
    g = make(["env:read=TZ", "env:read=MYAPP_*", "data:read", "hook:register=workflow.*"])
    assert allowed(g, "env", "read", "TZ")
    assert allowed(g, "env", "read", "MYAPP_MODE")
    assert not allowed(g, "env", "read", "AWS_SECRET_ACCESS_KEY")
    assert allowed(g, "data", "read")
    assert not allowed(g, "data", "write")
    assert allowed(g, "hook", "register", "workflow.completed")
    assert not allowed(g, "hook", "register", "billing.closed")


# --- admin rules ----------------------------------------------------------------


def test_blocked_commands_beat_an_exec_grant():
    g = make(["subprocess:execute=/usr/bin/*"], blocked_commands=("rm",))
    assert not allowed(g, "subprocess", "execute", "/usr/bin/rm")
    assert allowed(g, "subprocess", "execute", "/usr/bin/ls")


def test_blocked_path_patterns_match_anywhere():
    g = make(["file:read=**"], blocked_paths=("**/.ssh/**",))
    assert not allowed(g, "file", "read", f"{PLUGIN}/home/.ssh/id_rsa")
    assert allowed(g, "file", "read", f"{PLUGIN}/home/notes.txt")


def test_allowed_extensions_limit_what_may_be_written():
    g = make(["file:write=$WORK/**"], allowed_extensions=(".json", ".txt"))
    assert allowed(g, "file", "write", f"{WORK}/out.json")
    assert not allowed(g, "file", "write", f"{WORK}/evil.pth")
    assert allowed(g, "file", "read", f"{WORK}/evil.pth")


# --- the value ------------------------------------------------------------------


def test_wire_round_trip_through_msgpack():
    m = Manifest.model_validate(
        {
            "name": "w",
            "version": "1.0.0",
            "entry": "w:W",
            "permissions": [
                "file:read=data/**",
                "network:connect=api.weather.gov:443",
                "data:write",
            ],
            "deny": ["file:read=data/secrets/**"],
        }
    )
    g = grant(m, AdminPolicy.from_dict({"blocked_commands": ["rm"]})).with_roots(PLUGIN, WORK)
    wire = msgpack.unpackb(msgpack.packb(g.to_wire()))
    back = Grant.from_wire(wire)
    assert back == g
    assert back.check(Request("file", "read", f"{PLUGIN}/data/secrets/x")) == g.check(
        Request("file", "read", f"{PLUGIN}/data/secrets/x")
    )


def test_from_wire_refuses_unknown_fields():
    with pytest.raises(ValueError, match="unknown grant fields"):
        Grant.from_wire({**make().to_wire(), "unsafe": True})


def test_kernel_lists_are_resolved_with_the_roots():
    g = make(
        [
            "file:read=data/**",
            "file:write=$WORK/**",
            "subprocess:execute=/usr/bin/git",
            "network:connect=api.weather.gov:443",
            "data:read",
        ]
    )
    assert g.read_globs() == (f"{PLUGIN}/data/**", f"{WORK}/**")
    assert g.write_globs() == (f"{WORK}/**",)
    assert g.exec_paths() == ("/usr/bin/git",)
    assert g.connect_targets() == ("api.weather.gov:443",)
    assert make(["network:connect=a.com:1"], network="none").connect_targets() == ()


def test_roots_must_be_absolute_and_normalised():
    with pytest.raises(ValueError):
        Grant(plugin="p", tier="community", plugin_dir="relative")
    assert make().with_roots("/a//b/", "/w").plugin_dir == "/a/b"


def test_an_unknown_network_level_is_refused():
    with pytest.raises(ValueError):
        Grant(plugin="p", tier="community", network="everything")


def test_default_policy_grant_for_an_empty_manifest_allows_nothing():
    g = grant(
        Manifest.model_validate({"name": "e", "version": "0.1.0", "entry": "e"}), default_policy()
    )
    g = g.with_roots(PLUGIN, WORK)
    assert g.permissions == ()
    for req in [
        Request("file", "read", f"{PLUGIN}/x"),
        Request("network", "connect", "a.com:443"),
        Request("env", "read", "HOME"),
        Request("data", "read"),
    ]:
        assert not g.check(req).allowed
