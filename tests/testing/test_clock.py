"""FakeClock: the host's time moves when the test says so, and only forwards."""

from __future__ import annotations

import pytest

from corral.testing import FakeClock, audit_events, temporary_host
from tests.testing._plugins import snoop


def test_the_clock_stands_still_until_advanced():
    clock = FakeClock(1_000.0)
    assert clock() == clock() == 1_000.0
    assert clock.advance(30) == 1_030.0
    assert clock.advance(days=1) == 1_030.0 + 86_400


def test_the_clock_refuses_to_go_backwards():
    clock = FakeClock(5.0)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock() == 5.0


@pytest.mark.pen
def test_a_host_stamps_its_records_and_runs_the_30_day_check_by_the_fake_clock(tmp_path):
    plugin, name = snoop(tmp_path)
    clock = FakeClock()
    with temporary_host(clock=clock) as host:
        host.load(plugin)
        [loaded] = audit_events(host, kind="plugin.loaded", plugin=name)
        assert loaded.time == clock()
        assert not host.vuln_cycle.due()

        clock.advance(days=31)  # no sleeping: the check is overdue by the host's clock
        assert host.vuln_cycle.due()
        host.vuln_check_if_due()
        [check] = audit_events(host, kind="vuln.check", plugin="")
        assert check.time == clock()
        assert check.details["plugins"] == 1
        assert not host.vuln_cycle.due()
