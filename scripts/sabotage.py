"""The sabotage check: switch one layer off at a time and see which attack tests fail.

Each kernel layer is switched off together with the guard (so only the
kernel stands in the way), and the guard is switched off alone. A layer no
test catches is a layer nothing proves. Prints a Markdown table for the
README's security section. Run with ``make sabotage``. The first table is the
kernel pen's: the attack tests' container variants are left out (the engine
holds the namespaces and cgroup there, so switching those layers off changes
nothing). ``test_unprivileged.py`` runs the same switch in a host started as
uid 65534, where the user namespace is what makes the other namespaces possible.

The container backend's tables run only the container variants (``-k
container``). First the worker's own layers inside the container, switched off
with every engine option on (reference rows); then once per engine run option
switched off (``ENGINE_LAYERS`` in ``corral/policy/plan.py``), each together
with the worker's layers that would stop the same attacks, so only the
engine's option stands in the way. An engine row lists only the tests that
fail beyond its reference row: what the worker's layers let through on their
own is theirs, not the option's. ``--only kernel`` or ``--only container`` runs
one half.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/runtime/test_attacks.py",
    "tests/runtime/test_attacks_kernel.py",
    "tests/runtime/test_attacks_channel.py",
    "tests/runtime/test_host.py",
    "tests/runtime/test_network.py",
    "tests/runtime/test_unprivileged.py",
]
KERNEL_LAYERS = [
    "userns", "mountns", "pidns", "ipcns", "utsns", "netns",
    "rlimits", "cgroups", "landlock", "seccomp",
]
CONTAINER_TESTS = [
    "tests/runtime/test_attacks.py",
    "tests/runtime/test_network.py",
    "tests/runtime/container/test_backend.py",
]
# Each engine option, with the worker's layers inside the container that stop the
# same attacks (the guard always): what is left standing is the engine's option.
CONTAINER_ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("engine-readonly", ("landlock", "guard")),
    ("engine-network", ("guard",)),
    ("engine-seccomp", ("seccomp", "guard")),
    ("engine-privileges", ("guard",)),
    ("engine-memory", ("rlimits", "guard")),
    ("engine-pids", ("rlimits", "guard")),
    ("engine-cpu", ("guard",)),
    ("engine-ulimits", ("rlimits", "guard")),
    ("engine-tmpfs", ("guard",)),
]
# The worker's own layers switched off with every engine option on: what fails there
# is theirs, so an engine row lists only what fails beyond its reference row.
CONTAINER_REFERENCES: list[tuple[str, ...]] = [
    ("guard",), ("landlock", "guard"), ("seccomp", "guard"), ("rlimits", "guard"),
]


def failures(
    sabotage: str, tests: list[str], select: str, name: str, reuse: bool = False
) -> list[str]:
    """The tests that fail with ``sabotage`` off; ``reuse``: read a report left by a past run."""
    report = ROOT / ".pytest_cache" / f"sabotage-{name}-{sabotage or 'none'}.xml"
    report.parent.mkdir(exist_ok=True)
    if not (reuse and report.exists()):
        env = {**os.environ, "CORRAL_SABOTAGE": sabotage}
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}", "-k", select, *tests],
            cwd=ROOT, env=env, capture_output=True, check=False,
        )  # fmt: skip
    failed = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return failed


def table(rows: list[tuple[str, list[str]]], empty: str = "**none: not caught**") -> None:
    print("| layer switched off | attack tests that fail (catch it) |")
    print("|---|---|")
    for label, failed in rows:
        caught = ", ".join(f"`{n}`" for n in sorted(failed))
        print(f"| {label} | {caught or ('none (all pass)' if label.startswith('(none') else empty)} |")


def kernel(reuse: bool = False) -> bool:
    """The kernel pen's table; True when every test passed with every layer on."""

    def run(sabotage: str) -> list[str]:
        return failures(sabotage, TESTS, "not container", "kernel", reuse)

    baseline = run("")
    rows = [("(none: every layer on)", baseline)]
    for layer in KERNEL_LAYERS:
        rows.append((f"{layer} (+ guard off)", run(f"guard,{layer}")))
    rows.append(("guard alone", run("guard")))
    table(rows)
    return not baseline


def container(reuse: bool = False) -> bool:
    """The container backend's table (Docker unless CORRAL_CONTAINER_ENGINE says otherwise).

    Reference rows first (the worker's own layers, every engine option on), then
    one row per engine option listing only the tests that fail beyond its reference.
    """

    def run(layers: tuple[str, ...]) -> list[str]:
        return failures(",".join(layers), CONTAINER_TESTS, "container", "container", reuse)

    baseline = run(())
    rows = [("(none: every layer on)", baseline)]
    reference = {inside: run(inside) for inside in CONTAINER_REFERENCES}
    for inside, failed in reference.items():
        label = "guard alone" if inside == ("guard",) else f"{inside[0]} (+ guard off)"
        rows.append((f"{label}, every engine option on", failed))
    table(rows, empty="none")
    print()
    rows = []
    for option, inside in CONTAINER_ROWS:
        beyond = set(run((*inside, option))) - set(reference[inside])
        rows.append((f"{option} (+ {', '.join(inside)} off)", sorted(beyond)))
    table(rows)
    return not baseline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=("kernel", "container"), help="run one half only")
    parser.add_argument(
        "--reuse-reports",
        action="store_true",
        help="read a row's JUnit report in .pytest_cache when one exists instead of running it "
        "(finishing an interrupted run of the same code)",
    )
    args = parser.parse_args(argv)
    ok = True
    if args.only in (None, "kernel"):
        print("Kernel pen:\n")
        ok = kernel(args.reuse_reports) and ok
    if args.only in (None, "container"):
        print("\nContainer backend:\n" if args.only is None else "Container backend:\n")
        ok = container(args.reuse_reports) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
