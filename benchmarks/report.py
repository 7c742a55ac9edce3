"""Print the figures as a rich table, and write them as JSON with the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.harness import Figure


def machine() -> dict[str, Any]:
    """What the numbers were measured on, so a reader can compare like with like."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def table(figures: list[Figure], notes: list[str]) -> Table:
    grid = Table(title="corral against its baselines (ratios of medians, same run, interleaved)")
    for column in ("figure", "corral median (p95)", "baseline median (p95)", "ratio", "goal", ""):
        grid.add_column(column, justify="left" if column in ("figure",) else "right")
    for figure in figures:
        sign = "≤" if figure.better == "lower" else "≥"
        grid.add_row(
            f"{figure.name}\n[dim]vs {figure.baseline_name}[/dim]",
            _cell(figure.corral, figure.unit),
            _cell(figure.baseline, figure.unit),
            f"{figure.ratio:.2f}x",
            f"{sign} {figure.goal}x",
            "[green]met[/green]" if figure.met else "[red]missed[/red]",
        )
    grid.caption = "\n".join(notes)
    return grid


def show(figures: list[Figure], notes: list[str], console: Console | None = None) -> None:
    (console or Console()).print(table(figures, notes))


def write_json(path: Path, figures: list[Figure], notes: list[str]) -> None:
    data = {"machine": machine(), "figures": [f.to_dict() for f in figures], "notes": notes}
    path.write_text(json.dumps(data, indent=2) + "\n")


def _cell(stats: Any, unit: str) -> str:
    return (
        f"{stats.median:,.1f} {unit} ({stats.p95:,.1f})\n"
        f"[dim]{stats.low:,.1f}-{stats.high:,.1f}, n={stats.runs}[/dim]"
    )
