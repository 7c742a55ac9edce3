"""The Manifest value: validated when built, frozen, with entry point parts."""

import pytest
from pydantic import ValidationError

from corral.policy import Manifest, Permission

BASE = {"name": "weather-report", "version": "1.2.0", "entry": "weather_report:WeatherPlugin"}


def test_a_minimal_manifest_takes_the_defaults():
    m = Manifest.model_validate(BASE)
    assert (m.tier, m.permissions, m.deny, m.network) == ("community", (), (), None)
    assert (m.entry_module, m.entry_attr) == ("weather_report", "WeatherPlugin")


def test_a_module_entry_has_no_attribute():
    m = Manifest.model_validate({**BASE, "entry": "pkg.tools"})
    assert (m.entry_module, m.entry_attr) == ("pkg.tools", "")


def test_permissions_are_parsed_and_the_model_is_frozen_and_hashable():
    m = Manifest.model_validate({**BASE, "permissions": ["file:read=./data/"]})
    assert m.permissions == (Permission("file", "read", "data"),)
    with pytest.raises(ValidationError):
        m.name = "other"  # type: ignore[misc]
    assert hash(m) == hash(Manifest.model_validate({**BASE, "permissions": ["file:read=data"]}))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "Weather Report", "is not a plugin name"),
        ("name", "-x", "is not a plugin name"),
        ("version", "1.2", "is not a semantic version"),
        ("version", 1.2, "valid string"),
        ("entry", "weather report", "is not an entry point"),
        ("entry", "m:C:D", "is not an entry point"),
        ("tier", "comunity", "did you mean 'community'?"),
        ("network", "ful", "did you mean 'full'?"),
        ("permissions", ["fiel:read"], "did you mean 'file'?"),
    ],
)
def test_invalid_fields(field, value, message):
    with pytest.raises(ValidationError) as caught:
        Manifest.model_validate({**BASE, field: value})
    assert message in str(caught.value)


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        Manifest.model_validate({**BASE, "permisions": []})
