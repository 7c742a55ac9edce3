"""Every runnable example in docs/ is run here, so the documentation cannot rot.

The convention, by a fenced block's info string:

- ``python``: a complete program. It runs in a fresh interpreter of the
  project's venv, in the page's workspace (below), and must exit 0.
- ``console``: a shell session. Each ``$ `` line is a command, run with bash in
  the page's workspace with the venv's ``corral`` on ``PATH``; the lines after
  it, up to the next ``$ ``, are its expected output: each non-empty line must
  appear in what the command printed (stdout and stderr; ``...`` lines are
  skipped, so long output can be shortened). A command must exit 0 unless an
  ``[exit N]`` line in its output says otherwise.
- anything else (``py`` for fragments, ``yaml``, ``sh``, ``text``, ...) is
  shown, not run; but a block whose first line is ``# examples/PATH...`` is
  that file of the repository, and must match it byte for byte.

Each page gets one workspace, shared by its blocks in order (a console block
can scaffold a plugin that a later python block loads): a temporary directory
holding a copy of ``examples/`` and a ``CORRAL_HOME`` of its own. Blocks on
different pages never share state.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```\s*$", re.M | re.S)
RUNNABLE = ("python", "console")
COPY = re.compile(r"# (examples/[\w./-]+)")
TIMEOUT = 60


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    kind: str
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        kind = match["info"].strip().split(" ")[0]
        if kind in RUNNABLE or COPY.match(match["body"]):
            line = text.count("\n", 0, match.start()) + 1
            body = "\n".join(
                row[len(match["indent"]) :] for row in match["body"].splitlines()
            )
            found.append(Block(page, line, kind, body))
    return found


PAGES = sorted(p for p in DOCS.rglob("*.md") if blocks(p))


def _environment(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_HOME"] = str(workspace / "home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    env["NO_COLOR"] = "1"
    return env


@dataclass(frozen=True)
class Command:
    line: str
    expected: tuple[str, ...]
    exit_code: int


def commands(body: str) -> list[Command]:
    out: list[Command] = []
    line: str | None = None
    expected: list[str] = []
    exit_code = 0
    for row in [*body.splitlines(), "$ "]:
        if row.startswith("$ "):
            if line is not None:
                out.append(Command(line, tuple(expected), exit_code))
            line, expected, exit_code = row[2:].strip(), [], 0
            continue
        status = re.fullmatch(r"\s*\[exit (\d+)\]\s*", row)
        if status:
            exit_code = int(status[1])
        elif row.strip() and row.strip() != "...":
            expected.append(" ".join(row.split()))
    return [c for c in out if c.line]


def run_python(block: Block, workspace: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", block.body],
        cwd=workspace,
        env=_environment(workspace),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"{block} failed:\n{result.stdout}\n{result.stderr}"


def run_console(block: Block, workspace: Path) -> None:
    for command in commands(block.body):
        result = subprocess.run(
            ["bash", "-c", command.line],
            cwd=workspace,
            env=_environment(workspace),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        printed = result.stdout + result.stderr
        assert result.returncode == command.exit_code, (
            f"{block}: `{command.line}` exited {result.returncode}, "
            f"not {command.exit_code}:\n{printed}"
        )
        flat = " ".join(printed.split())
        for want in command.expected:
            assert want in flat, f"{block}: `{command.line}` did not print {want!r}:\n{printed}"


def run_page(page: Path, root: Path) -> str:
    """Run every example of ``page`` in a fresh workspace under ``root``; '' or the failure."""
    workspace = root / page.relative_to(DOCS).as_posix().replace("/", "_")
    (workspace / "home").mkdir(parents=True)
    shutil.copytree(
        ROOT / "examples", workspace / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    try:
        for block in blocks(page):
            copy = COPY.match(block.body)
            if copy and block.kind not in RUNNABLE:
                assert (ROOT / copy[1]).read_text() == block.body + "\n", (
                    f"{block} is no longer a copy of {copy[1]}"
                )
            elif block.kind == "python":
                run_python(block, workspace)
            else:
                run_console(block, workspace)
    except AssertionError as exc:
        return str(exc)
    return ""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every page run at once: most of the time is the CLI's start-up, which overlaps well."""
    root = tmp_path_factory.mktemp("docs")
    os.chmod(root, 0o755)  # a pen's unprivileged uid must reach the plugins copied here
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {page: pool.submit(run_page, page, root) for page in PAGES}
        return {page: future.result() for page, future in futures.items()}


@pytest.mark.pen
@pytest.mark.timeout(600)  # the first test's set-up runs every page (about a minute here)
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_the_examples_on_the_page_run(page, outcomes):
    failure = outcomes[page]
    assert not failure, failure


def test_the_convention_reads_sessions_as_documented():
    session = "$ corral run x peek\nPermissionDenied: needs\n...\n[exit 1]\n$ echo ok\nok\n"
    assert commands(session) == [
        Command("corral run x peek", ("PermissionDenied: needs",), 1),
        Command("echo ok", ("ok",), 0),
    ]
