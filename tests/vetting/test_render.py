"""Text, JSON and SARIF 2.1.0 renderings of one report."""

import json

from corral.manifest import load_manifest
from corral.vetting import RULES, to_json, to_sarif, vet_plugin
from corral.vetting.render import text_lines
from tests.vetting.conftest import blocking_policy


def bad_report(bad):
    report = vet_plugin(bad, load_manifest(bad), blocking_policy(), "community")
    return report, report.blocking(blocking_policy(), "community")


def test_sarif_has_every_required_field(bad):
    report, blocking = bad_report(bad)
    sarif = json.loads(json.dumps(to_sarif(report, blocking)))
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "corral"
    ids = [r["id"] for r in driver["rules"]]
    assert ids == [r.id for r in RULES]
    assert all(r["shortDescription"]["text"] for r in driver["rules"])
    assert len(run["results"]) == len(report.findings)
    for result in run["results"]:
        assert result["ruleId"] in ids
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("none", "note", "warning", "error")
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"].endswith(".py")
        assert physical["region"]["startLine"] >= 1
        assert physical["region"]["startColumn"] >= 1
        assert len(result["partialFingerprints"]["corralFingerprint/v1"]) == 32


def test_undeclared_uses_are_sarif_errors_with_the_explanation(bad):
    report, blocking = bad_report(bad)
    results = to_sarif(report, blocking)["runs"][0]["results"]
    errors = [r for r in results if r["properties"]["undeclared"]]
    assert errors and all(r["level"] == "error" for r in errors)
    assert any("but plugin.yaml grants no subprocess:execute" in r["message"]["text"] for r in errors)


def test_json_round_trips_with_flags(bad):
    report, blocking = bad_report(bad)
    data = json.loads(json.dumps(to_json(report, blocking)))
    assert data["plugin"] == "vetting-bad"
    assert data["blocked"] is True
    assert len(data["findings"]) == len(report.findings)
    first_undeclared = next(f for f in data["findings"] if f["undeclared"])
    assert first_undeclared["error"].startswith("uses ")
    assert sum(data["counts"].values()) == len(report.findings)


def test_text_has_one_line_per_finding_and_a_summary(bad):
    report, blocking = bad_report(bad)
    lines = text_lines(report, blocking)
    assert lines[-1].startswith("vetting-bad 1.0.0: 11 file(s)")
    assert any("BLOCKS" in line for line in lines)


def test_hostile_file_names_reach_the_terminal_and_sarif_harmlessly(tmp_path):
    from corral.vetting import Report, vet_tree

    (tmp_path / "x\x1b[2Jy [red]z.py").write_text("eval('1')\n")
    report = Report.build("p", "1.0.0", vet_tree(tmp_path), ())
    line = text_lines(report)[0]
    assert "\x1b" not in line and "\\x1b[2Jy \\[red]z.py:1:1" in line
    uri = to_sarif(report)["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"
    ]["uri"]
    assert uri == "x%1B%5B2Jy%20%5Bred%5Dz.py"
