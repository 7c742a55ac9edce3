"""corral's vetting against bandit on the same tree of real Python files.

The tree is a copy of the first N modules of the standard library (real code,
every style, ~N files). Each tool is measured two ways, best of R runs:

- in process: ``vet_tree`` against bandit's ``BanditManager`` (discover + run
  tests), both with in-source suppressions ignored;
- as a subprocess: ``python -m corral.vetting.bench_entry``-style one-liner
  against ``python -m bandit -r -f json``, so both pay the same start-up.

The number that matters is the ratio, printed last. Run:
``.venv/bin/python benchmarks/bench_vetting.py [--files 400] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def make_tree(dest: Path, count: int) -> tuple[int, int]:
    """Copy ``count`` stdlib modules (no test suites) into ``dest``; returns (files, bytes)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    picked = 0
    size = 0
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib)
        if rel.parts[0] in ("test", "idlelib", "lib2to3", "site-packages") or "tests" in rel.parts:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        picked += 1
        size += target.stat().st_size
        if picked >= count:
            break
    return picked, size


def best(repeat: int, fn: Callable[[], int]) -> tuple[float, int]:
    times = []
    found = 0
    for _ in range(repeat):
        start = time.perf_counter()
        found = fn()
        times.append(time.perf_counter() - start)
    return min(times), found


def corral_in_process(root: Path) -> int:
    from corral.vetting import vet_tree

    return len(vet_tree(root))


def bandit_in_process(root: Path) -> int:
    import logging

    from bandit.core import config, manager

    logging.getLogger("bandit").setLevel(logging.CRITICAL)
    mgr = manager.BanditManager(config.BanditConfig(), "file", ignore_nosec=True, quiet=True)
    mgr.discover_files([str(root)], recursive=True)
    mgr.run_tests()
    return len(mgr.get_issue_list())


def corral_subprocess(root: Path) -> int:
    code = "import sys\nfrom corral.vetting import vet_tree\nprint(len(vet_tree(sys.argv[1])))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def bandit_subprocess(root: Path) -> int:
    import json

    out = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-r", "-f", "json", "--ignore-nosec", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    return len(json.loads(out.stdout)["results"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        root = Path(tmp)
        files, size = make_tree(root, args.files)
        print(f"tree: {files} stdlib files, {size / 1e6:.1f} MB, best of {args.repeat}")
        corral_in_process(root)  # warm the imports both ways before timing
        bandit_in_process(root)
        rows = []
        for mode, ours, theirs in (
            ("in process", corral_in_process, bandit_in_process),
            ("subprocess", corral_subprocess, bandit_subprocess),
        ):
            t_ours, n_ours = best(args.repeat, lambda f=ours: f(root))
            t_theirs, n_theirs = best(args.repeat, lambda f=theirs: f(root))
            rows.append((mode, t_ours, n_ours, t_theirs, n_theirs))
        for mode, t_ours, n_ours, t_theirs, n_theirs in rows:
            print(
                f"{mode:>10}: corral {t_ours:6.2f} s ({n_ours} findings)  "
                f"bandit {t_theirs:6.2f} s ({n_theirs} findings)  "
                f"ratio bandit/corral = {t_theirs / t_ours:4.1f}x"
            )


if __name__ == "__main__":
    main()
