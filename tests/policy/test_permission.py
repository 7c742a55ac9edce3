"""The permission grammar and hierarchy, read as the manifest author meets them."""

import pytest

from corral.policy import Permission, PermissionSyntaxError
from corral.policy.permission import grants_action, implied_actions


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("file:read=data/**", "file:read=data/**"),
        ("FILE:Read=./data//reports/", "file:read=data/reports"),
        ("file:write=$WORK/**", "file:write=$WORK/**"),
        ("file:read=/srv/shared/*.csv", "file:read=/srv/shared/*.csv"),
        ("network:connect=API.Weather.gov:443", "network:connect=api.weather.gov:443"),
        ("network:connect=[::1]:8080", "network:connect=[::1]:8080"),
        ("subprocess:execute=/usr/bin/git", "subprocess:execute=/usr/bin/git"),
        ("env:read=MYAPP_*", "env:read=MYAPP_*"),
        ("hook:register", "hook:register"),
        ("data:read", "data:read"),
        ("work_orders:write=plant-7", "work_orders:write=plant-7"),
    ],
)
def test_parse_gives_the_canonical_spelling(text, canonical):
    assert str(Permission.parse(text)) == canonical
    assert Permission.parse(canonical) == Permission.parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fiel:read=data/**", "unknown domain 'fiel'; did you mean 'file'?"),
        ("hooks:register", "unknown domain 'hooks'; did you mean 'hook'?"),
        ("file:reed", "unknown action 'reed' for domain 'file'; did you mean 'read'?"),
        (
            "file:chmod",
            "unknown action 'chmod' for domain 'file' (it takes read, write, delete, admin)",
        ),
        ("fileread", "expected 'domain:action[=scope]', got 'fileread'"),
        ("file:read=", "empty scope after '=' in 'file:read='"),
        ("file:read=../../etc/passwd", "'..' is not allowed in path scope '../../etc/passwd'"),
        ("file:read=~/.ssh/id_rsa", "'~' is not expanded"),
        ("file:read=$HOME/x", "unknown variable"),
        ("file:read=data/a**", "'**' must be a whole path segment"),
        ("subprocess:execute=git", "'git' must be an absolute path such as /usr/bin/git"),
        ("network:connect=api.example.com", "needs host:port"),
        ("env:read=MY-VAR", "is not an environment variable name"),
        ("data:read=two words", "no spaces"),
        ("da-ta:read", "must be lower-case letters, digits or _"),
    ],
)
def test_mistakes_are_refused_with_a_message_that_says_what_to_fix(text, message):
    with pytest.raises(PermissionSyntaxError) as caught:
        Permission.parse(text)
    assert message in str(caught.value)
    assert caught.value.text == text


def test_a_permission_built_directly_is_validated_and_canonical_too():
    assert Permission("file", "read", "./data/").scope == "data"
    with pytest.raises(PermissionSyntaxError):
        Permission("file", "read", "data/../../x")


def test_app_defined_domains_carry_any_action():
    p = Permission.parse("reports:generate")
    assert (p.domain, p.action, p.scope, p.builtin) == ("reports", "generate", None, False)


def test_write_implies_read_and_admin_implies_everything():
    assert grants_action("data", "write", "read")
    assert not grants_action("data", "read", "write")
    assert grants_action("network", "admin", "listen")
    assert not grants_action("env", "write", "delete")


def test_file_write_also_implies_delete_so_work_dirs_can_rotate_files():
    assert grants_action("file", "write", "delete")
    assert implied_actions("file", "write") == ("write", "read", "delete")
    assert implied_actions("file", "admin") == ("admin", "read", "write", "delete")


def test_covers_needs_the_action_and_the_whole_scope():
    wide = Permission.parse("file:write=data/**")
    assert wide.covers(Permission.parse("file:read=data/x.csv"))
    assert wide.covers(Permission.parse("file:write=data/sub/**"))
    assert not wide.covers(Permission.parse("file:read=datax/y"))
    assert not wide.covers(Permission.parse("file:read"))
    assert not Permission.parse("file:read=data/**").covers(Permission.parse("file:write=data/x"))
    assert Permission.parse("network:connect=*.example.com:443").covers(
        Permission.parse("network:connect=a.example.com:443")
    )
