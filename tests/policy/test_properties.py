"""Properties of the policy core, checked on many generated grants and requests.

- a deny always wins, whatever else is granted;
- write implies read (and, for files, delete);
- no path outside a granted glob matches it, however the path is spelled;
- a grant never exceeds its tier, nor what the manifest declared.
"""

import fnmatch
import posixpath

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.policy import (
    BUILTIN,
    Grant,
    Manifest,
    Permission,
    Request,
    default_policy,
    grant,
    paths,
)
from corral.policy.scope import is_wildcard, kind_of
from corral.policy.tiers import NETWORK_ORDER, TIER_ORDER

PLUGIN, WORK = "/run/corral/plugin", "/run/corral/work"
PROPERTY = settings(max_examples=150, deadline=None)

GLOB_SEGMENT = st.sampled_from(["data", "x", "secrets", "a.txt", "*", "**", "s*", "b?c", "*.csv"])
PATH_SEGMENT = st.sampled_from(
    ["data", "x", "secrets", "a.txt", "s1", "bc", "q.csv", "..", ".", ""]
)
SCOPES = {
    "path": st.builds(
        lambda root, segs: root + "/".join(segs),
        st.sampled_from(["", "$WORK/", "/", "/srv/"]),
        st.lists(GLOB_SEGMENT, min_size=1, max_size=4),
    ),
    "exec": st.sampled_from(["/usr/bin/git", "/usr/bin/*", "/bin/sh", "/opt/**"]),
    "net": st.builds(
        lambda h, p: f"{h}:{p}",
        st.sampled_from(
            ["api.example.com", "*.example.com", "*", "10.0.0.0/8", "127.0.0.1", "example.com"]
        ),
        st.sampled_from(["443", "80", "*", "1000-2000"]),
    ),
    "env": st.sampled_from(["TZ", "HOME", "MYAPP_*", "*", "AWS_SECRET"]),
    "name": st.sampled_from(["orders", "ord*", "*", "workflow.done"]),
}
DOMAINS = [*BUILTIN, "data", "work_orders"]


@st.composite
def permissions(draw, domains=DOMAINS):
    domain = draw(st.sampled_from(domains))
    actions = (*BUILTIN.get(domain, ("read", "write", "delete", "generate")), "admin")
    scope = draw(st.none() | SCOPES[kind_of(domain)])
    return Permission(domain, draw(st.sampled_from(actions)), scope)


@st.composite
def file_targets(draw):
    root = draw(st.sampled_from([PLUGIN, WORK, "/srv", "/etc"]))
    return root + "/" + "/".join(draw(st.lists(PATH_SEGMENT, max_size=5)))


@st.composite
def requests(draw, domains=DOMAINS):
    domain = draw(st.sampled_from(domains))
    action = draw(st.sampled_from(BUILTIN.get(domain, ("read", "write", "delete", "generate"))))
    kind = kind_of(domain)
    if kind == "path":
        target = draw(file_targets())
    elif kind == "exec":
        target = draw(st.sampled_from(["/usr/bin/git", "/usr/bin/rm", "/bin/sh", "/opt/x/y"]))
    elif kind == "net":
        target = draw(
            st.sampled_from(
                ["api.example.com", "a.example.com", "example.com", "10.1.2.3", "127.0.0.1"]
            )
        )
        target += ":" + draw(st.sampled_from(["443", "80", "1500"]))
    elif kind == "env":
        target = draw(st.sampled_from(["TZ", "HOME", "MYAPP_X", "AWS_SECRET"]))
    else:
        target = draw(st.sampled_from(["", "orders", "order", "workflow.done"]))
    return Request(domain, action, target)


def bound(perms, denies=(), **kw):
    g = Grant(
        plugin="p",
        tier="community",
        permissions=tuple(perms),
        denies=tuple(denies),
        network="restricted",
        **kw,
    )
    return g.with_roots(PLUGIN, WORK)


def exact(request):
    """The narrowest permission naming exactly this request's target."""
    target = request.target
    if kind_of(request.domain) == "path":
        target = paths.normalise(target)
    return Permission(request.domain, request.action, target or None)


@PROPERTY
@given(st.lists(permissions()), st.lists(permissions()), requests())
def test_deny_always_wins(perms, denies, request):
    needed = exact(request)
    assert bound([needed]).check(request).allowed  # the allow twin
    assert not bound([*perms, needed], [*denies, needed]).check(request).allowed


@PROPERTY
@given(st.lists(permissions()), st.lists(permissions()), permissions(), requests())
def test_adding_a_deny_never_allows_more(perms, denies, extra, request):
    if bound(perms, [*denies, extra]).check(request).allowed:
        assert bound(perms, denies).check(request).allowed


@PROPERTY
@given(
    st.lists(permissions(["file", "env", "data", "config"])),
    st.lists(permissions(["file", "env", "data", "config"])),
    st.lists(st.sampled_from([".txt", ".json"]), max_size=2),
    requests(["file", "env", "data", "config"]),
)
def test_write_implies_read(perms, denies, extensions, request):
    g = bound(perms, denies, allowed_extensions=tuple(extensions))
    writing = Request(request.domain, "write", request.target)
    if g.check(writing).allowed:
        assert g.check(Request(request.domain, "read", request.target)).allowed
        if request.domain == "file":
            assert g.check(Request("file", "delete", request.target)).allowed


def _glob_matches(glob_parts, path_parts):
    """An independent oracle: segment by segment, ``**`` spanning zero or more segments."""
    if not glob_parts:
        return not path_parts
    head, rest = glob_parts[0], glob_parts[1:]
    if head == "**":
        return any(_glob_matches(rest, path_parts[i:]) for i in range(len(path_parts) + 1))
    return (
        bool(path_parts)
        and fnmatch.fnmatchcase(path_parts[0], head)
        and _glob_matches(rest, path_parts[1:])
    )


@PROPERTY
@given(SCOPES["path"], file_targets())
def test_no_path_outside_a_granted_glob_matches_it(scope, target):
    p = Permission("file", "read", scope)
    allowed = bound([p]).check(Request("file", "read", target)).allowed
    glob = paths.resolve(p.scope, PLUGIN, WORK)
    normal = posixpath.normpath("/" + target.lstrip("/"))
    assert allowed == _glob_matches(glob.split("/")[1:], [s for s in normal.split("/") if s])
    if allowed:
        literal = [s for s in glob.split("/") if s][: _literal_depth(glob)]
        assert normal.split("/")[1 : len(literal) + 1] == literal


def _literal_depth(glob):
    parts = [s for s in glob.split("/") if s]
    return next((i for i, s in enumerate(parts) if paths.has_wildcard(s)), len(parts))


MANIFESTS = st.builds(
    lambda perms, deny, tier, network, memory, cpu, disk: Manifest.model_validate(
        {
            "name": "gen",
            "version": "1.0.0",
            "entry": "gen:Gen",
            "permissions": perms,
            "deny": deny,
            "tier": tier,
            "network": network,
            "limits": {"memory_mb": memory, "cpu_percent": cpu, "disk_mb": disk},
        }
    ),
    st.lists(permissions(), max_size=8),
    st.lists(permissions(), max_size=3),
    st.sampled_from(TIER_ORDER),
    st.none() | st.sampled_from(NETWORK_ORDER),
    st.integers(1, 8192),
    st.integers(1, 400),
    st.integers(1, 10_000),
)


@PROPERTY
@given(MANIFESTS, st.sampled_from(TIER_ORDER))
def test_a_grant_never_exceeds_its_tier_nor_the_declaration(manifest, signature):
    g = grant(manifest, default_policy(), signature_tier=signature)
    assert TIER_ORDER.index(g.tier) <= min(
        TIER_ORDER.index(manifest.tier), TIER_ORDER.index(signature)
    )
    spec = default_policy().tier(g.tier)
    for p in g.permissions:
        assert spec.allows_action(p.domain, p.action)
        assert any(d.covers(p) for d in manifest.permissions)
        if p.domain in ("file", "network", "subprocess", "env"):
            assert p.scope is not None or spec.unscoped_wide
        if p.domain == "file" and not spec.outside_paths:
            assert paths.is_inside(p.scope)
        if p.domain == "network" and p.scope and not spec.wildcard_hosts:
            assert not is_wildcard(p.domain, p.scope)
        if p.domain == "subprocess" and p.scope and not spec.exec_globs:
            assert not is_wildcard(p.domain, p.scope)
    for name in type(g.limits).model_fields:
        assert getattr(g.limits, name) <= getattr(spec.limits, name)
        assert getattr(g.limits, name) <= getattr(manifest.limits, name)
    assert NETWORK_ORDER.index(g.network) <= NETWORK_ORDER.index(spec.network)
