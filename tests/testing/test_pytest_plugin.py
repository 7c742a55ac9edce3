"""The pytest fixtures, used by a test suite of its own in a separate pytest run.

The run is a subprocess, so the fixtures are found the way a user's suite
finds them: through the ``pytest11`` entry point of the installed package,
with no conftest line.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.pen

SUITE = """
import json
from pathlib import Path

import pytest

import corral
from corral.testing import FakeClock, audit_events

PLUGIN = Path({plugin!r})
SEEN = Path({seen!r})


@pytest.fixture
def corral_host_options(corral_clock):
    corral_clock.advance(days=400)  # a host a year ahead: its records show the fake clock
    return {{"clock": corral_clock}}


def test_the_host_is_real_and_on_the_home(corral_host, corral_home, corral_clock):
    assert corral_host.home.root == corral_home
    plugin = corral_host.load(PLUGIN)
    assert plugin.call("echo", 5) == 5
    with pytest.raises(corral.PermissionDenied):
        plugin.call("plant", "/var/tmp/never-written-by-the-kit-test")
    [loaded] = audit_events(corral_host, kind="plugin.loaded")
    assert loaded.time == corral_clock()
    SEEN.write_text(json.dumps({{"home": str(corral_home)}}))
"""


def test_a_suite_gets_a_host_and_home_from_the_installed_plugin(pytester, tmp_path):
    from tests.testing._plugins import snoop

    plugin, _ = snoop(tmp_path)
    seen = tmp_path / "seen.json"
    pytester.makepyfile(test_app=textwrap.dedent(SUITE.format(plugin=str(plugin), seen=str(seen))))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    home = json.loads(seen.read_text())["home"]
    assert home and not Path(home).exists()  # removed after the test


def test_the_fixtures_can_be_turned_off(pytester):
    pytester.makepyfile(test_off="def test_needs(corral_host):\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:corral")
    result.stdout.fnmatch_lines(["*fixture 'corral_host' not found*"])
