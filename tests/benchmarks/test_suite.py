"""The benchmark suite runs and reports every figure; speed itself is never asserted here."""

import json

import pytest

from benchmarks.__main__ import SUITE, main

pytestmark = [pytest.mark.pen, pytest.mark.slow]


def test_a_quick_run_emits_every_figure_with_its_baseline(tmp_path, capsys):
    out = tmp_path / "bench.json"

    assert main(["--quick", "--json", str(out)]) == 0

    data = json.loads(out.read_text())
    assert len(data["figures"]) == len(SUITE)
    for figure in data["figures"]:
        # Three runs each (the dashboard figures time every page in each run).
        assert figure["corral"]["runs"] == figure["baseline"]["runs"]
        assert figure["corral"]["runs"] % 3 == 0
        assert figure["baseline"]["median"] > 0 and figure["ratio"] > 0
    assert data["machine"]["cpus"] and data["notes"]
    assert "cold start" in capsys.readouterr().out
