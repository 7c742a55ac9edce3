"""The admin policy document: tiers merged onto defaults, per-plugin rules, errors."""

import pytest

from corral.policy import DEFAULT_TIERS, AdminPolicy, Permission, PolicyFileError, default_policy
from corral.policy.admin import RECOMMENDED_BLOCK


def test_the_default_policy_is_the_designed_tiers_and_no_rules():
    policy = default_policy()
    assert policy.tiers == DEFAULT_TIERS
    assert (policy.deny, policy.blocked_commands, policy.allowed_extensions) == ((), (), ())
    assert policy.rule("anything").grant == ()


def test_a_tier_redefinition_merges_field_by_field():
    policy = AdminPolicy.from_dict(
        {"tiers": {"community": {"limits": {"memory_mb": 128}, "wildcard_hosts": True}}}
    )
    community = policy.tier("community")
    assert community.limits.memory_mb == 128
    assert community.limits.cpu_percent == 25
    assert community.wildcard_hosts
    assert policy.tier("enterprise") == DEFAULT_TIERS["enterprise"]


def test_per_plugin_rules_and_seed_004_rules():
    policy = AdminPolicy.from_dict(
        {
            "deny": ["file:read=/etc/**"],
            "plugins": {
                "weather": {
                    "tier": "community",
                    "revoke": ["subprocess:execute"],
                    "isolation": "container",
                }
            },
            "blocked_commands": ["rm", "/usr/bin/sudo"],
            "allowed_extensions": ["TXT", ".json"],
            "blocked_paths": ["**/.ssh/**"],
        }
    )
    assert policy.deny == (Permission.parse("file:read=/etc/**"),)
    assert policy.rule("weather").isolation == "container"
    assert policy.allowed_extensions == (".txt", ".json")
    assert policy.blocked_paths == ("**/.ssh/**",)


def test_sections_of_other_subsystems_are_kept_aside():
    policy = AdminPolicy.from_dict({"audit": "postgresql://db/corral", "keys": {}})
    assert policy.model_extra == {"audit": "postgresql://db/corral", "keys": {}}


def test_responses_and_monitoring_are_sections_of_this_model():
    policy = AdminPolicy.from_dict({"responses": {}, "monitoring": {"history": 10}})
    assert policy.model_extra == {}
    assert policy.monitoring.history == 10
    assert policy.responses.ladder("any", "crash")[-1].action == "disable"


@pytest.mark.parametrize(
    ("data", "issue"),
    [
        ({"tierz": {}}, ("", "unknown section 'tierz'; did you mean 'tiers'?")),
        (
            {"tiers": {"gold": {}}},
            ("tiers", "unknown tier 'gold'; tiers are community, professional, enterprise"),
        ),
        (
            {"tiers": {"community": {"limits": {"memory_mb": "x"}}}},
            ("tiers.community.limits.memory_mb", "input should be a valid integer"),
        ),
        (
            {"plugins": {"w": {"grant": ["fiel:read"]}}},
            ("plugins.w.grant[0]", "unknown domain 'fiel'; did you mean 'file'?"),
        ),
        ({"plugins": {"w": {"tire": "community"}}}, ("plugins.w.tire", "unknown field")),
        (
            {"blocked_commands": ["rm -rf"]},
            ("blocked_commands", "blocked command 'rm -rf' must be a name or a path"),
        ),
        (["not", "a", "mapping"], ("", "a policy file must be a mapping of sections")),
        (
            {"container": {"engine": "lxc"}},
            ("container.engine", "input should be 'docker' or 'podman'"),
        ),
        ({"container": {"sockets": "/run/x.sock"}}, ("container.sockets", "unknown field")),
    ],
)
def test_mistakes_are_listed_with_their_field(data, issue):
    with pytest.raises(PolicyFileError) as caught:
        AdminPolicy.from_dict(data)
    assert issue in caught.value.issues


def test_an_empty_document_is_the_default_policy():
    assert AdminPolicy.from_dict(None) == default_policy()


def test_vetting_informs_by_default_and_blocks_only_by_policy():
    vetting = default_policy().vetting
    assert [vetting.blocks(t) for t in ("community", "professional", "enterprise")] == [(), (), ()]
    assert vetting.block_undeclared == ()
    recommended = AdminPolicy.from_dict({"vetting": {"block": RECOMMENDED_BLOCK}}).vetting
    assert recommended.blocks("community") == ("high", "critical")
    assert recommended.blocks("professional") == ("critical",)
    assert recommended.blocks("unknown") == ("high", "critical")
    assert default_policy().vulnerabilities.max_score == 50


def test_vetting_block_merges_per_tier_and_suppressions_are_keyed():
    policy = AdminPolicy.from_dict(
        {
            "vetting": {
                "block": {"community": ["high", "critical"]},
                "suppressions": [
                    {"plugin": "weather", "rule": "CRL403", "version": "1.2.0", "fingerprint": "ab"}
                ],
            },
            "vulnerabilities": {"max_score": 30},
        }
    )
    assert policy.vetting.blocks("community") == ("high", "critical")
    assert policy.vetting.blocks("enterprise") == ()
    assert policy.vetting.suppressed("weather", "1.2.0", "any", "CRL403", "ab")
    assert not policy.vetting.suppressed("weather", "1.3.0", "any", "CRL403", "ab")
    assert not policy.vetting.suppressed("weather", "1.2.0", "any", "CRL403", "cd")
    assert policy.vulnerabilities.max_score == 30


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"vetting": {"block": {"gold": ["high"]}}}, "vetting.block.gold"),
        ({"vetting": {"block": {"community": ["severe"]}}}, "vetting.block.community[0]"),
        ({"vetting": {"suppressions": [{"rule": "CRL101"}]}}, "vetting.suppressions[0].plugin"),
        ({"vulnerabilities": {"max_score": 101}}, "vulnerabilities.max_score"),
    ],
)
def test_vetting_and_vulnerability_mistakes_are_located(data, field):
    with pytest.raises(PolicyFileError) as info:
        AdminPolicy.from_dict(data)
    assert any(f.startswith(field) for f, _ in info.value.issues), info.value.issues


def test_the_container_section_names_the_engine_for_container_tiers():
    policy = AdminPolicy.from_dict(
        {
            "tiers": {"community": {"isolation": "container"}},
            "container": {"engine": "podman", "socket": "/run/podman/podman.sock"},
        }
    )
    assert policy.container is not None
    assert (policy.container.engine, policy.container.socket) == (
        "podman",
        "/run/podman/podman.sock",
    )
    assert (policy.container.image, policy.container.runtime) == ("", None)
    assert default_policy().container is None
