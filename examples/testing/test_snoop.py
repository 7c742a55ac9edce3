# examples/testing/test_snoop.py
"""An application's tests of the plugin it embeds, with corral's pytest fixtures.

No conftest.py is needed: installing corral registers ``corral_host`` and
``corral_home`` with pytest.
"""

import shutil
import tempfile
from pathlib import Path

import pytest

from corral.testing import assert_denied, audit_events

PLUGIN = Path(__file__).parent / "snoop"


@pytest.fixture
def outside():
    # Not under /tmp: each pen has a private /tmp, where a planted file would be
    # invisible rather than refused, and the test would pass for the wrong reason.
    root = Path(tempfile.mkdtemp(dir="/var/tmp"))
    yield root
    shutil.rmtree(root)


def test_echo_runs_in_a_pen(corral_host):
    snoop = corral_host.load(PLUGIN)
    assert snoop.call("echo", {"n": 3}) == {"n": 3}
    assert audit_events(corral_host, kind="call.completed", plugin="snoop")


def test_writing_outside_the_grant_is_refused_and_recorded(corral_host, outside):
    snoop = corral_host.load(PLUGIN)
    target = outside / "planted.txt"
    assert_denied(
        corral_host, snoop.call, "plant", str(target), permission=f"file:write={target}"
    )
    assert not target.exists()  # judged from outside the pen
