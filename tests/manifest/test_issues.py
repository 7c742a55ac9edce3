"""Validation errors rewritten for people: location, value, expectation, a likely fix."""

import pytest

from corral.errors import ManifestError
from corral.manifest import parse_manifest


def issues(text, filename="plugin.yaml"):
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text.encode(), filename)
    return [str(i) for i in caught.value.issues]


def test_unknown_fields_get_a_did_you_mean_at_their_level():
    assert issues(
        "name: a\nversion: 1.0.0\nentry: a\nlimits:\n  memroy_mb: 1\ndescripton: x\n"
    ) == [
        "plugin.yaml:5 limits.memroy_mb: unknown field 'memroy_mb'; did you mean 'memory_mb'?",
        "plugin.yaml:6 descripton: unknown field 'descripton'; did you mean 'description'?",
    ]


def test_missing_required_fields_are_named():
    assert issues("name: a\n") == [
        "plugin.yaml:1 entry: required field is missing",
        "plugin.yaml:1 version: required field is missing",
    ]


def test_a_number_where_text_is_expected_suggests_quotes():
    assert issues("name: a\nversion: 1.2\nentry: a\n") == [
        "plugin.yaml:2 version: expected text, got 1.2 (put it in quotes)"
    ]


def test_type_errors_say_what_was_expected():
    assert issues("name: a\nversion: 1.0.0\nentry: a\npermissions: file:read\nlimits: 5\n") == [
        "plugin.yaml:4 permissions: expected a list, got str",
        "plugin.yaml:5 limits: expected a mapping of fields, got int",
    ]


def test_errors_inside_a_seed_000_block_point_at_the_seed_spelling():
    text = '{\n "name": "a", "version": "1.0.0", "entry": "a",\n "permissions": {\n  "system_access": ["files", "lo gs"]\n }\n}'
    assert issues(text, "plugin.json") == [
        "plugin.json:4 permissions.system_access[1]: action 'lo gs' must be lower-case letters, digits or _"
    ]
