"""Dashboard page latency with a million audit events, against the same pages with a thousand.

The claim under test is that no page reads the whole log (indexed keyset
queries only), so a page should cost about the same whatever the log's size:
the baseline is the same page, same process, over a store of 1,000 events, and
the goal is a ratio of at most 2x. The rows are bulk-inserted valid audit
records (real columns and JSON details; their hashes are placeholders, so the
chain does not verify: the chain writer would take minutes per million). Every
page goes through Starlette's TestClient as a logged-in admin. ``--quick``
uses 20,000 events instead of 1,000,000.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import pgcluster
from benchmarks.harness import Figure, Stats, interleave
from corral.audit import open_store
from corral.audit.store import _COLUMNS, _INSERT
from corral.runtime.lifecycle import open_lifecycle

FULL, QUICK, SMALL = 1_000_000, 20_000, 1_000
PLUGINS = 20
PASSWORD = "benchmark password"
# kind, decision, share of the log
MIX = [
    ("call.completed", "allow", 70),
    ("hostcall", "allow", 12),
    ("denied", "deny", 8),
    ("violation", "info", 4),
    ("response", "info", 3),
    ("limit.warning", "info", 2),
    ("grant", "info", 1),
]
PAGES = [
    "/",
    "/plugins/p7",
    "/audit",
    "/audit?kind=violation",
    "/audit?plugin=p7&decision=deny",
    "/audit?kind=grant&since=2026-01-10T00:00:00",
    "/approvals",
]


def _rows(count: int, start: float) -> Iterator[tuple[Any, ...]]:
    kinds = [(k, d) for k, d, share in MIX for _ in range(share)]
    for n in range(count):
        kind, decision = kinds[n % len(kinds)]
        plugin = f"p{n % PLUGINS}"
        if kind == "call.completed":
            details: dict[str, Any] = {
                "callable": "run",
                "usage": {"cpu_seconds": (n % 97) / 1000, "peak_memory_mb": 20 + n % 31},
            }
        elif kind == "violation":
            details = {"type": ("filesystem", "network", "resource")[n % 3], "count": 1}
        elif kind == "grant":
            details = {
                "tier": "community",
                "permissions": ["file:read=data/**"],
                "dropped": [],
                "network": "none",
                "notes": [],
            }
        else:
            details = {"n": n}
        digest = uuid.uuid4().hex * 2
        yield (
            "bench",
            n + 1,
            uuid.uuid4().hex,
            start + n * 2.6,
            kind,
            plugin,
            decision,
            "host",
            "1.0.0",
            "",
            "",
            json.dumps(details, sort_keys=True),
            digest,
            digest,
        )


def _fill(target: str, count: int, home: Path) -> None:
    """Create the schema through corral, then bulk-load ``count`` valid rows."""
    open_store(target, host_id="bench").close()
    start = time.time() - count * 2.6
    if target.startswith("postgresql"):
        import psycopg

        with psycopg.connect(target) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY audit_events ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for row in _rows(count, start):
                    copy.write_row(row)
            cur.execute("ANALYZE audit_events")
    else:
        conn = sqlite3.connect(target, isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        conn.executemany(_INSERT, _rows(count, start))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.close()
    # Lifecycle state lives beside a PostgreSQL audit log, as the dashboard reads it.
    lifecycle = open_lifecycle(target if target.startswith("postgresql") else home / "corral.db")
    for n in range(PLUGINS):
        lifecycle.approve(f"p{n}", "1.0.0", frozenset({"file:read=data/**"}), now=time.time())


@contextmanager
def _client(home: Path, audit: str) -> Iterator[Any]:
    from corral.dashboard import Accounts, create_app

    Accounts(home / "corral.db").add("bench", PASSWORD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        client = TestClient(create_app(home, audit=audit))
    with client:
        page = client.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        client.post("/login", data={"name": "bench", "password": PASSWORD, "csrf": token.group(1)})
        yield client


def _deep_page(client: Any) -> str:
    """The URL 20 pages into the unfiltered log, by following the keyset links."""
    url = "/audit"
    for _ in range(20):
        found = re.search(r'href="([^"]+)" id="older"', client.get(url).text)
        if not found:
            break
        url = found.group(1).replace("&amp;", "&")
    return url


def _measure(backend: str, runs: int) -> Figure:
    count = FULL if runs > 3 else QUICK
    root = Path(tempfile.mkdtemp(prefix="corral-bench-dash-"))
    try:
        with _stores(backend, root) as (big_home, big, small_home, small):
            _fill(big, count, big_home)
            _fill(small, SMALL, small_home)
            with _client(big_home, big) as ours, _client(small_home, small) as theirs:
                pages = [*PAGES, _deep_page(ours)]
                small_pages = [*PAGES, _deep_page(theirs)]
                per_page: dict[str, tuple[list[float], list[float]]] = {}
                for label, mine, base in zip(pages, pages, small_pages, strict=True):
                    key = "/audit (20 pages deep)" if "before=" in mine else label
                    per_page[key] = interleave(
                        _timer(ours, mine), _timer(theirs, base), runs=runs, warmup=1
                    )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    all_mine = [s for m, _ in per_page.values() for s in m]
    all_base = [s for _, b in per_page.values() for s in b]
    medians = {
        page: {"events": round(statistics.median(m), 2), "small": round(statistics.median(b), 2)}
        for page, (m, b) in per_page.items()
    }
    worst = max(medians, key=lambda p: medians[p]["events"])
    return Figure(
        f"dashboard page, {count:,} events ({backend})",
        "ms",
        Stats.of(all_mine),
        Stats.of(all_base),
        f"the same pages over {SMALL:,} events",
        goal=2.0,
        better="lower",
        note=f"{len(medians)} pages; slowest {worst}: {medians[worst]['events']} ms",
        extra={"pages_ms": medians, "events": count},
    )


def _timer(client: Any, url: str) -> Callable[[], float]:
    def once() -> float:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, (url, response.status_code)
        return elapsed

    return once


@contextmanager
def _stores(backend: str, root: Path) -> Iterator[tuple[Path, str, Path, str]]:
    big_home, small_home = root / "big", root / "small"
    big_home.mkdir()
    small_home.mkdir()
    if backend == "sqlite":
        yield big_home, str(big_home / "corral.db"), small_home, str(small_home / "corral.db")
        return
    with pgcluster.database() as big, pgcluster.database() as small:
        for home in (big_home, small_home):
            open_store(home / "corral.db", host_id="bench").close()  # lifecycle lives here
        yield big_home, big, small_home, small


def sqlite_pages(runs: int) -> Figure:
    return _measure("sqlite", runs)


def postgres_pages(runs: int) -> Figure:
    return _measure("postgresql", runs)
