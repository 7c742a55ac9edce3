"""``python -m benchmarks [--quick] [--json FILE] [--only NAME]``: run the suite, print a table."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from benchmarks import container, context, dashboard, host, pen
from benchmarks.harness import Figure

# name -> (measure, runs in a full run); --quick runs each with 3 (and the dashboard
# figures on 20,000 events instead of 1,000,000).
SUITE: dict[str, tuple[Callable[[int], Figure], int]] = {
    "cold": (pen.cold_start, 30),
    "warm": (pen.warm_call, 20),
    "throughput": (pen.throughput, 6),
    "guard": (pen.guard_cost, 15),
    "memory": (pen.idle_memory, 7),
    "vetting": (host.vetting, 5),
    "audit": (host.audit_append, 7),
    "verify": (host.verify_package, 9),
    "dashboard-sqlite": (dashboard.sqlite_pages, 9),
    "dashboard-postgres": (dashboard.postgres_pages, 9),
    "container-cold": (container.cold_start, 8),
    "container-warm": (container.warm_call, 10),
    "podman-cold": (functools.partial(container.cold_start, kind="podman"), 8),
    "podman-warm": (functools.partial(container.warm_call, kind="podman"), 10),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 runs per figure (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--only", action="append", choices=sorted(SUITE), help="run only these")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    figures: list[Figure] = []
    chosen = args.only or list(SUITE)
    with console.status("measuring") as status:
        try:
            for name in chosen:
                measure, runs = SUITE[name]
                status.update(f"measuring {name} ({3 if args.quick else runs} runs)")
                figures.append(measure(3 if args.quick else runs))
        finally:
            container.stop_engine()
        status.update("context: other isolation tools")
        notes = context.notes(3 if args.quick else 10)
    from benchmarks import report

    # The table needs room; a pipe (CI, `| tee`) would otherwise fold it to 80 columns.
    report.show(figures, notes, Console(width=max(Console().width, 132)))
    if args.json:
        report.write_json(args.json, figures, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
