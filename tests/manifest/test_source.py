"""Reading manifest text: safe YAML only, strict JSON, and the line of every field."""

import pytest

from corral.errors import ManifestError
from corral.manifest.source import MAX_DEPTH, read_json, read_yaml

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: [*c,*c,*c,*c,*c,*c,*c,*c,*c]
"""


def only_issue(text, reader=read_yaml):
    with pytest.raises(ManifestError) as caught:
        reader(text, "plugin.yaml")
    [issue] = caught.value.issues
    return issue.line, issue.message


def test_lines_are_recorded_for_every_field_and_item():
    doc = read_yaml("name: x\npermissions:\n  - a\n  - b\nlimits:\n  memory_mb: 3\n", "plugin.yaml")
    assert doc.data == {"name": "x", "permissions": ["a", "b"], "limits": {"memory_mb": 3}}
    assert doc.lines[("permissions", 1)] == 4
    assert doc.lines[("limits", "memory_mb")] == 6
    assert doc.line(("limits", "memory_mb", "deeper")) == 6
    assert doc.line(("absent",)) == 1


def test_deny_anchor_bombs_before_anything_is_expanded():
    assert only_issue(BILLION_LAUGHS) == (
        1,
        "YAML anchors and aliases are not allowed in a manifest",
    )


def test_deny_a_python_object_tag_and_its_effect_never_happens(tmp_path):
    marker = tmp_path / "pwned"
    line, message = only_issue(f"entry: !!python/object/apply:os.system ['touch {marker}']\n")
    assert (line, message[:11]) == (1, "YAML tags (")
    assert not marker.exists()


@pytest.mark.parametrize("text", ["name: !!str 1\n", "name: !custom x\n", "a: !!binary aGk=\n"])
def test_deny_every_explicit_tag(text):
    line, message = only_issue(text)
    assert (line, message[:11]) == (1, "YAML tags (")


def test_deny_deep_nesting_before_the_recursive_composer_runs():
    depth = MAX_DEPTH + 1
    assert only_issue("x: " + "[" * depth + "]" * depth) == (
        1,
        f"nested deeper than {MAX_DEPTH} levels",
    )


def test_allow_nesting_up_to_the_bound():
    depth = MAX_DEPTH - 1
    assert read_yaml("x: " + "[" * depth + "]" * depth, "plugin.yaml").data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: a\nname: b\n", (2, "duplicate key 'name'")),
        ("1: x\n", (1, "keys must be text, got 1")),
        ("a: 1\n---\nb: 2\n", (2, "a manifest is one YAML document, not several")),
        ("", (None, "the manifest is empty")),
    ],
)
def test_malformed_yaml(text, expected):
    assert only_issue(text) == expected


def test_unclosed_list_names_the_line_and_what_was_expected():
    # libyaml (used when PyYAML has it) and pure PyYAML word this differently
    line, message = only_issue("a: [1\n")
    assert line == 2 and message.startswith("not valid YAML: ")
    assert "expected ',' or ']'" in message


def test_json_is_parsed_strictly_with_best_effort_lines():
    doc = read_json('{\n"name":\t"x",\n "permissions": [\n  "a",\n  "b"]\n}', "plugin.json")
    assert doc.data == {"name": "x", "permissions": ["a", "b"]}
    assert doc.lines[("permissions", 1)] == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "a": 2}', (None, "not valid JSON: duplicate key 'a'")),
        ('{"a": NaN}', (None, "not valid JSON: NaN is not a JSON number")),
        ('{\n"a": }', (2, "not valid JSON: Expecting value")),
    ],
)
def test_malformed_json(text, expected):
    assert only_issue(text, read_json) == expected
