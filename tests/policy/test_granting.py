"""grant(): declared ∩ tier ceiling ∩ admin policy, minus denies, with a reason for every cut."""

from corral.policy import AdminPolicy, Manifest, Permission, Request, default_policy, grant

# The canonical shape from the issue, verbatim in substance.
CANONICAL = {
    "name": "weather-report",
    "version": "1.2.0",
    "entry": "weather_report:WeatherPlugin",
    "tier": "community",
    "permissions": [
        "file:read=data/**",
        "file:write=$WORK/**",
        "network:connect=api.weather.gov:443",
        "network:connect=*.weather.com:443",
        "subprocess:execute=/usr/bin/git",
        "env:read=TZ",
        "data:read",
    ],
    "deny": ["file:read=data/secrets/**"],
    "limits": {
        "memory_mb": 256,
        "cpu_seconds": 30,
        "cpu_percent": 80,
        "call_timeout_seconds": 300,
        "init_timeout_seconds": 30,
        "hook_timeout_seconds": 5,
        "processes": 8,
        "open_files": 64,
        "file_size_mb": 100,
        "disk_mb": 100,
    },
}


def manifest(**changes):
    return Manifest.model_validate({**CANONICAL, **changes})


def granted_strings(g):
    return [str(p) for p in g.permissions]


def test_the_canonical_manifest_at_community():
    g = grant(manifest(), default_policy())
    assert g.tier == "community"
    assert granted_strings(g) == [
        "file:read=data/**",
        "file:write=$WORK/**",
        "network:connect=api.weather.gov:443",
        "subprocess:execute=/usr/bin/git",
        "env:read=TZ",
        "data:read",
    ]
    assert g.dropped == (
        (
            "network:connect=*.weather.com:443",
            "the community tier allows only exact host:port (no wildcards, ranges, blocks)",
        ),
    )
    assert g.denies == (Permission.parse("file:read=data/secrets/**"),)
    assert g.network == "restricted"
    assert g.isolation == "kernel"
    assert [(name, asked, given) for name, asked, given, _ in g.clamped] == [
        ("cpu_percent", 80, 25),
        ("call_timeout_seconds", 300, 30),
    ]
    assert (g.limits.processes, g.limits.open_files, g.limits.cpu_seconds) == (8, 64, 30)


def test_the_tier_granted_is_the_lowest_of_asked_signature_and_pin():
    asked = manifest(tier="enterprise")
    assert grant(asked, default_policy()).tier == "community"
    assert grant(asked, default_policy(), signature_tier="enterprise").tier == "enterprise"
    pinned = AdminPolicy.from_dict({"plugins": {"weather-report": {"tier": "professional"}}})
    g = grant(asked, pinned, signature_tier="enterprise")
    assert g.tier == "professional"
    assert g.notes == (
        "asked for the enterprise tier; granted professional because the admin policy pins professional",
    )
    assert (
        grant(manifest(tier="community"), default_policy(), signature_tier="enterprise").tier
        == "community"
    )


def test_professional_keeps_wildcard_hosts_and_absolute_paths():
    m = manifest(
        tier="professional",
        permissions=["network:connect=*.weather.com:443", "file:read=/srv/shared/**"],
    )
    g = grant(m, default_policy(), signature_tier="professional")
    assert granted_strings(g) == ["network:connect=*.weather.com:443", "file:read=/srv/shared/**"]
    assert g.dropped == ()
    community = grant(m, default_policy())
    assert community.permissions == ()
    assert community.dropped[1] == (
        "file:read=/srv/shared/**",
        "the community tier allows files only inside the plugin directory and $WORK",
    )


def test_unscoped_file_grants_mean_the_plugin_dir_and_work_never_wider():
    g = grant(
        manifest(tier="enterprise", permissions=["file:read", "file:write"], deny=[]),
        default_policy(),
        signature_tier="enterprise",
    )
    assert granted_strings(g) == ["file:read=**", "file:read=$WORK/**", "file:write=$WORK/**"]


def test_unscoped_network_process_and_env_grants_need_a_scope_below_enterprise():
    perms = ["network:connect", "subprocess:execute", "env:read", "hook:register", "config:read"]
    g = grant(manifest(permissions=perms), default_policy())
    assert granted_strings(g) == ["hook:register", "config:read"]
    assert [d[0] for d in g.dropped] == perms[:3]
    assert "e.g. network:connect=api.example.com:443" in g.dropped[0][1]
    assert g.network == "none"
    wide = grant(
        manifest(tier="enterprise", permissions=perms),
        default_policy(),
        signature_tier="enterprise",
    )
    assert granted_strings(wide)[:3] == [
        "network:connect=*:*",
        "subprocess:execute=/**",
        "env:read=*",
    ]


def test_a_write_the_tier_does_not_allow_is_narrowed_to_read():
    g = grant(manifest(permissions=["work_orders:write", "users:admin"]), default_policy())
    assert granted_strings(g) == ["work_orders:read", "users:read"]
    assert g.dropped == (
        (
            "work_orders:write",
            "the community tier does not allow work_orders:write; narrowed to work_orders:read",
        ),
        ("users:admin", "the community tier does not allow users:admin; narrowed to users:read"),
    )


def test_community_executables_only_by_exact_path():
    g = grant(manifest(permissions=["subprocess:execute=/usr/bin/*"]), default_policy())
    assert g.permissions == ()
    assert g.dropped[0][1] == "the community tier allows executables only by exact path"


def test_a_deny_that_covers_a_permission_drops_it_and_a_partial_one_stays_in_force():
    m = manifest(
        permissions=["file:read=data/secrets/**", "file:read=data/**"],
        deny=["file:read=data/secrets/**"],
    )
    g = grant(m, default_policy())
    assert granted_strings(g) == ["file:read=data/**"]
    assert g.dropped == (("file:read=data/secrets/**", "denied by 'file:read=data/secrets/**'"),)
    assert g.denies == (Permission.parse("file:read=data/secrets/**"),)


def test_a_read_deny_does_not_drop_a_write_grant_whose_delete_it_leaves():
    m = manifest(permissions=["file:write=$WORK/**"], deny=["file:read=$WORK/**"])
    assert granted_strings(grant(m, default_policy())) == ["file:write=$WORK/**"]


def test_admin_grant_widens_the_ceiling_for_one_plugin_only():
    policy = AdminPolicy.from_dict(
        {"plugins": {"weather-report": {"grant": ["network:connect=*.weather.com:*"]}}}
    )
    g = grant(manifest(), policy)
    assert "network:connect=*.weather.com:443" in granted_strings(g)
    assert g.notes == (
        "'network:connect=*.weather.com:443' kept beyond the community tier by the admin grant "
        "'network:connect=*.weather.com:*'",
    )
    other = grant(manifest(name="other"), policy)
    assert "network:connect=*.weather.com:443" not in granted_strings(other)


def test_admin_grant_never_adds_what_was_not_declared():
    policy = AdminPolicy.from_dict(
        {"plugins": {"weather-report": {"grant": ["file:read=/etc/**"]}}}
    )
    assert not [p for p in grant(manifest(), policy).permissions if p.scope == "/etc/**"]


def test_revoke_drops_what_it_covers_and_denies_the_rest():
    policy = AdminPolicy.from_dict(
        {
            "plugins": {
                "weather-report": {"revoke": ["subprocess:execute", "file:read=data/private/**"]}
            }
        }
    )
    g = grant(manifest(), policy)
    assert "subprocess:execute=/usr/bin/git" not in granted_strings(g)
    assert (
        "subprocess:execute=/usr/bin/git",
        "revoked for this plugin by the admin policy ('subprocess:execute')",
    ) in g.dropped
    assert Permission.parse("file:read=data/private/**") in g.denies


def test_global_denies_and_blocked_commands():
    policy = AdminPolicy.from_dict({"deny": ["env:read=TZ"], "blocked_commands": ["git"]})
    g = grant(manifest(), policy)
    assert ("env:read=TZ", "denied by 'env:read=TZ'") in g.dropped
    assert (
        "subprocess:execute=/usr/bin/git",
        "'/usr/bin/git' is a blocked command in the admin policy",
    ) in g.dropped
    assert g.blocked_commands == ("git",)


def test_network_level_is_derived_declared_and_capped():
    none = grant(manifest(permissions=["file:read=data/**"]), default_policy())
    assert none.network == "none"
    internal = grant(manifest(network="internal"), default_policy())
    assert internal.network == "internal"
    assert not [p for p in internal.permissions if p.domain == "network"]
    assert (
        "network:connect=api.weather.gov:443",
        "the network level is internal",
    ) in internal.dropped
    full = grant(manifest(network="full"), default_policy())
    assert full.network == "restricted"
    assert "network full asked; the community tier allows at most restricted" in full.notes
    assert (
        grant(
            manifest(tier="enterprise", network="full"),
            default_policy(),
            signature_tier="enterprise",
        ).network
        == "full"
    )


def test_isolation_is_the_tiers_unless_the_policy_says_otherwise_for_the_plugin():
    policy = AdminPolicy.from_dict({"plugins": {"weather-report": {"isolation": "container"}}})
    assert grant(manifest(), policy).isolation == "container"
    strict = AdminPolicy.from_dict({"tiers": {"community": {"isolation": "container"}}})
    assert grant(manifest(), strict).isolation == "container"


def test_seed_003_defaults_are_clamped_with_reasons_not_refused():
    g = grant(manifest(limits={}), default_policy())
    assert [c[0] for c in g.clamped] == ["memory_mb", "cpu_percent", "call_timeout_seconds"]
    assert g.clamped[0][3] == "default 500 MB is above the community tier ceiling of 256 MB"


def test_an_admin_widened_unscoped_network_grant_still_leaves_private_addresses_out():
    policy = AdminPolicy.from_dict({"plugins": {"weather-report": {"grant": ["network:connect"]}}})
    g = grant(manifest(permissions=["network:connect"]), policy).with_roots("/p", "/w")
    assert [str(p) for p in g.permissions] == ["network:connect=*:*"]
    assert g.check(Request("network", "connect", "example.org:443")).allowed
    assert not g.check(Request("network", "connect", "169.254.169.254:80")).allowed
