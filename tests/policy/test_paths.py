"""Path scopes: canonical spelling, roots, globs, and lexical normalisation of targets."""

import pytest

from corral.policy import paths


@pytest.mark.parametrize(
    ("scope", "canonical"),
    [
        ("data/**", "data/**"),
        ("./data/", "data"),
        ("data//x/./y", "data/x/y"),
        (".", "."),
        ("$WORK", "$WORK"),
        ("$WORK/", "$WORK"),
        ("$WORK//cache/", "$WORK/cache"),
        ("/", "/"),
        ("//etc//hosts/", "/etc/hosts"),
    ],
)
def test_canonical_path(scope, canonical):
    assert paths.canonical_path(scope) == canonical


@pytest.mark.parametrize("scope", ["", "a/../b", "/x/..", "~", "$WORKX/a", "a\x00b", "a/b**"])
def test_canonical_path_refuses_escapes_and_oddities(scope):
    with pytest.raises(ValueError):
        paths.canonical_path(scope)


def test_resolve_binds_relative_and_work_scopes_and_fails_closed_without_roots():
    assert paths.resolve("data/**", "/p", "/w") == "/p/data/**"
    assert paths.resolve(".", "/p", "/w") == "/p"
    assert paths.resolve("$WORK/**", "/p", "/w") == "/w/**"
    assert paths.resolve("/etc/hosts", "", "") == "/etc/hosts"
    assert paths.resolve("data/**", "", "/w") is None
    assert paths.resolve("$WORK/**", "/p", "") is None


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/p/data/../../etc/passwd", "/etc/passwd"),
        ("//p//data/", "/p/data"),
        ("/p/./data/x", "/p/data/x"),
        ("/../../etc", "/etc"),
        ("relative/x", None),
        ("/p/a\x00b", None),
    ],
)
def test_normalise_is_lexical(path, normal):
    assert paths.normalise(path) == normal


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("/p/data/**", "/p/data", True),
        ("/p/data/**", "/p/data/a/b/c.csv", True),
        ("/p/data/**", "/p/database", False),
        ("/p/data/*.csv", "/p/data/a.csv", True),
        ("/p/data/*.csv", "/p/data/sub/a.csv", False),
        ("/p/data/?.csv", "/p/data/ab.csv", False),
        ("/p/**/x.txt", "/p/x.txt", True),
        ("/p/**/x.txt", "/p/a/b/x.txt", True),
        ("/p/[ab].txt", "/p/a.txt", False),  # brackets are literal, not a class
        ("/p/[ab].txt", "/p/[ab].txt", True),
        ("/**", "/", True),
        ("/*", "/", False),
        ("/*", "/etc", True),
        ("/etc/hosts", "/etc/hosts", True),
        ("/etc/hosts", "/etc/hosts.allow", False),
    ],
)
def test_glob_regex(glob, path, matches):
    assert (paths.glob_regex(glob).fullmatch(path) is not None) is matches


def test_covers_is_conservative():
    assert paths.covers("data/**", "data/x/**")
    assert paths.covers("data/**", "data/x.csv")
    assert paths.covers("/**", "/etc/*")
    assert not paths.covers("data/*", "data/**")
    assert not paths.covers("data/**", "$WORK/**")
    assert not paths.covers("data/*/**", "data/x/**")
