"""The sabotage check: switch one layer off at a time and see which attack tests fail.

Each kernel layer is switched off together with the guard (so only the
kernel stands in the way), and the guard is switched off alone. A layer no
test catches is a layer nothing proves. Prints a Markdown table for the
README's security section. Run with ``make sabotage``. The table is the kernel
pen's: the attack tests' container variants are left out (the engine holds
the namespaces and cgroup there, so switching those layers off changes nothing).
``test_unprivileged.py`` runs the same switch in a host started as uid 65534,
where the user namespace is what makes the other namespaces possible.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/runtime/test_attacks.py",
    "tests/runtime/test_host.py",
    "tests/runtime/test_network.py",
    "tests/runtime/test_unprivileged.py",
]
KERNEL_LAYERS = [
    "userns", "mountns", "pidns", "ipcns", "utsns", "netns",
    "rlimits", "cgroups", "landlock", "seccomp",
]


def failures(sabotage: str) -> list[str]:
    report = ROOT / ".pytest_cache" / f"sabotage-{sabotage or 'none'}.xml"
    report.parent.mkdir(exist_ok=True)
    env = {**os.environ, "CORRAL_SABOTAGE": sabotage}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         "-k", "not container", *TESTS],
        cwd=ROOT, env=env, capture_output=True, check=False,
    )
    failed = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return failed


def main() -> int:
    baseline = failures("")
    rows = [("(none: every layer on)", baseline)]
    for layer in KERNEL_LAYERS:
        rows.append((f"{layer} (+ guard off)", failures(f"guard,{layer}")))
    rows.append(("guard alone", failures("guard")))
    print("| layer switched off | attack tests that fail (catch it) |")
    print("|---|---|")
    for label, failed in rows:
        caught = ", ".join(f"`{n}`" for n in sorted(failed))
        empty = "none (all pass)" if label.startswith("(none") else "**none: not caught**"
        print(f"| {label} | {caught or empty} |")
    return 1 if baseline else 0


if __name__ == "__main__":
    sys.exit(main())
