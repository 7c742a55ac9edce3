"""bandit, when installed: run it on the same tree and merge its findings, marked as bandit's.

``--ignore-nosec`` is passed because in-source suppressions are the author's
word, and the author is not trusted. bandit's ids (``B602``) keep their own
namespace, so host-side suppressions can name them too.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from corral.vetting.finding import Confidence, Finding, Severity, fingerprint

_NEEDS = {
    **dict.fromkeys(("B602", "B603", "B604", "B605", "B606", "B607"), "subprocess:execute"),
    "B310": "network:connect",
}
_SEVERITY: dict[str, Severity] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_CONFIDENCE: dict[str, Confidence] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


def bandit_command() -> list[str] | None:
    """How to start bandit here, or None when it is not installed."""
    if importlib.util.find_spec("bandit") is not None:
        return [sys.executable, "-m", "bandit"]
    found = shutil.which("bandit")
    return [found] if found else None


class BanditUnavailable(RuntimeError):
    """bandit is not installed, or it failed in a way that left no report."""


def run_bandit(root: str | Path, *, timeout: float = 300.0) -> list[Finding]:
    """bandit's findings for every Python file under ``root``, paths relative to it."""
    command = bandit_command()
    if command is None:
        raise BanditUnavailable("bandit is not installed (pip install bandit)")
    base = Path(root).resolve()
    try:
        proc = subprocess.run(
            [*command, "-q", "-r", "-f", "json", "--ignore-nosec", "."],
            cwd=base,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BanditUnavailable(f"bandit did not finish within {timeout:g} s") from None
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BanditUnavailable(f"bandit failed (exit {proc.returncode}): {tail[0]}") from None
    return [_finding(item) for item in data.get("results", [])]


def _finding(item: dict[str, Any]) -> Finding:
    rule = str(item.get("test_id", "B000"))
    path = str(item.get("filename", "")).removeprefix("./")
    code = " ".join(line.split(" ", 1)[-1] for line in str(item.get("code", "")).splitlines())
    return Finding(
        rule=rule,
        name=str(item.get("test_name", "")),
        severity=_SEVERITY.get(str(item.get("issue_severity", "")).upper(), "low"),
        confidence=_CONFIDENCE.get(str(item.get("issue_confidence", "")).upper(), "low"),
        path=path,
        line=int(item.get("line_number", 1) or 1),
        col=int(item.get("col_offset", 0) or 0) + 1,
        message=str(item.get("issue_text", "")),
        needs=_NEEDS.get(rule, ""),
        fingerprint=fingerprint(rule, path, "<bandit>", code),
        tool="bandit",
    )
