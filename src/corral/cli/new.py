"""``corral new NAME``: scaffold a plugin that validates and runs as it stands.

The scaffold is a starting point that already shows the habits corral wants:
scoped permissions (data shipped under ``data/``, scratch space in ``$WORK``),
limits inside the community tier, and a ``corral.Plugin`` subclass whose
``setup`` reads its data once per worker.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from corral.cli._output import JsonOpt, console, emit_json, errors
from corral.policy.model import NAME

MANIFEST = """\
# {name}: scaffolded by `corral new`. Declare every permission the plugin
# needs; anything else fails with PermissionDenied naming the line to add.
name: {name}
version: 0.1.0
entry: {module}:{cls}
description: A corral plugin
tier: community
permissions:
  - file:read=data/**     # files shipped with the plugin
  - file:write=$WORK/**   # the plugin's private work directory
limits:
  memory_mb: 128
  cpu_percent: 25
  call_timeout_seconds: 30
"""

MODULE = '''\
"""{name}: a corral plugin. Public methods are the callables a host may invoke."""

from pathlib import Path

import corral

DATA = Path(__file__).resolve().parent / "data"


class {cls}(corral.Plugin):
    def setup(self) -> None:
        # Runs once per worker, under the init timeout.
        self.greeting = (DATA / "greeting.txt").read_text().strip()

    def hello(self, who: str = "world") -> str:
        return f"{{self.greeting}}, {{who}}!"
'''


def names(name: str) -> tuple[str, str]:
    """(module, class) names: ``weather-report`` -> weather_report, WeatherReportPlugin."""
    module = name.replace("-", "_")
    if module[0].isdigit():
        module = f"plugin_{module}"
    words = [w for w in re.split(r"[-_]", name) if w]
    return module, "".join(w.capitalize() for w in words) + "Plugin"


def scaffold(name: str, target: Path) -> list[Path]:
    """Write the plugin files into ``target`` (which must not exist); return them."""
    module, cls = names(name)
    target.mkdir(parents=True)
    files = {
        target / "plugin.yaml": MANIFEST.format(name=name, module=module, cls=cls),
        target / f"{module}.py": MODULE.format(name=name, cls=cls),
        target / "data" / "greeting.txt": "Hello\n",
    }
    for path, text in files.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return list(files)


def new(
    name: Annotated[str, typer.Argument(help="Plugin name: lower-case letters, digits, dashes.")],
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to create it (default: ./NAME).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a new plugin directory that validates as it stands."""
    target = directory if directory is not None else Path(name)
    problem = _problem(name, target)
    if problem:
        if as_json:
            emit_json({"ok": False, "errors": [{"field": "name", "message": problem}]})
        else:
            errors.print(f"[red]cannot create[/red]: {problem}")
        raise typer.Exit(1)
    files = scaffold(name, target)
    if as_json:
        emit_json({"ok": True, "path": str(target), "files": [str(f) for f in files]})
        return
    console.print(f"[green]created[/green] {target}")
    for path in files:
        console.print(f"  {path}")
    console.print(f"next: corral validate {target}")


def _problem(name: str, target: Path) -> str:
    if not NAME.fullmatch(name):
        return f"'{name}' is not a plugin name: lower-case letters, digits and dashes"
    if target.exists():
        return f"{target} already exists; choose another --dir"
    return ""
