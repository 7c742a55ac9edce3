"""``corral vet PLUGIN_DIR``: what static vetting finds, and whether it would block loading.

Exit 0 when nothing blocks and every permission the code uses is declared;
exit 1 otherwise, so a CI job can gate a plugin on it. ``--format sarif``
feeds code-scanning tools; ``--bandit`` merges bandit's findings when bandit
is installed (and says plainly when it is not).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from corral.cli._output import (
    HomeOpt,
    PluginDirArg,
    PolicyOpt,
    console,
    errors,
    load_granted,
)
from corral.vetting import render, vet_plugin
from corral.vetting.bandit import BanditUnavailable, run_bandit
from corral.vetting.finding import Finding


class Format(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="text, json or sarif.")]
TierOpt = Annotated[
    str | None,
    typer.Option("--tier", help="Judge as this tier (default: the tier the plugin is granted)."),
]
BanditOpt = Annotated[
    bool, typer.Option("--bandit", help="Also run bandit and merge its findings.")
]


def vet(  # noqa: PLR0917 - typer maps each CLI option to a parameter
    plugin_dir: PluginDirArg,
    fmt: FormatOpt = Format.text,
    policy: PolicyOpt = None,
    tier: TierOpt = None,
    home: HomeOpt = None,
    bandit: BanditOpt = False,
) -> None:
    """Vet a plugin's code with corral's AST rules against its declared permissions."""
    machine = fmt is not Format.text
    loaded = load_granted(plugin_dir, policy, home, machine)
    judged = tier or loaded.grant.tier
    if judged not in loaded.admin.tiers:
        errors.print(f"unknown tier '{judged}'; tiers are {', '.join(loaded.admin.tiers)}")
        raise typer.Exit(2)
    extra: tuple[Finding, ...] = ()
    note = ""
    if bandit:
        try:
            extra = tuple(run_bandit(plugin_dir))
        except (BanditUnavailable, OSError) as exc:
            note = f"--bandit: {exc}; showing corral's own findings only"
            errors.print(f"[yellow]note[/yellow]: {note}")
    report = vet_plugin(plugin_dir, loaded.manifest, loaded.admin, judged, extra=extra)
    if note:
        report = type(report)(**{**report.__dict__, "notes": (*report.notes, note)})
    blocking = report.blocking(loaded.admin, judged)
    if fmt is Format.json:
        data = render.to_json(report, blocking)
        data["tier"] = judged
        typer.echo(render.dumps(data))
    elif fmt is Format.sarif:
        typer.echo(render.dumps(render.to_sarif(report, blocking)))
    else:
        for line in render.text_lines(report, blocking):
            console.print(line)
        if blocking:
            console.print(f"[bold red]blocked[/bold red] in tier {judged}")
    if blocking or report.undeclared:
        raise typer.Exit(1)
