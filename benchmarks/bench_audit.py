"""Audit store throughput on SQLite, as ratios against a bare sqlite3 baseline in this process.

The baseline is what a naive durable log does: one INSERT and one COMMIT per
event on a WAL database with synchronous=FULL (the store's own settings), no
hashing, no thread. Against it:

* ``write``, 1 thread: every event waits for its own commit (worst case).
* ``write``, 8 threads: acknowledged writes from concurrent callers share
  commits (group commit), which is what a host with busy plugins does.
* ``submit`` + one ``flush``: the queued path for high-rate info events.

Run: ``.venv/bin/python benchmarks/bench_audit.py [events] [rounds]``. Numbers depend on
the disk's fsync latency, so only the ratios travel between machines. With
``CORRAL_BENCH_PG=postgresql://...`` the same three paths also run on PostgreSQL,
against a bare psycopg INSERT + COMMIT per event.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from statistics import median

from corral.audit import AuditEvent, open_store


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        time=time.time(),
        kind="denied",
        plugin="bench",
        decision="deny",
        details={"n": n, "permission": "file:read=/etc/shadow"},
    )


def baseline(path: Path, count: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE log (id TEXT PRIMARY KEY, time REAL, kind TEXT, details TEXT)")
    start = time.perf_counter()
    for n in range(count):
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO log VALUES (?, ?, ?, ?)",
            (uuid.uuid4().hex, time.time(), "denied", json.dumps({"n": n})),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return count / elapsed


def baseline_pg(url: str, count: int) -> float:
    import psycopg

    table = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id TEXT PRIMARY KEY, time FLOAT8, kind TEXT, details TEXT)"
        )
        conn.commit()
        start = time.perf_counter()
        for n in range(count):
            conn.execute(
                f"INSERT INTO {table} VALUES (%s, %s, %s, %s)",
                (uuid.uuid4().hex, time.time(), "denied", json.dumps({"n": n})),
            )
            conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return count / elapsed


def writes(path: Path | str, count: int, threads: int) -> float:
    store = open_store(path, host_id=f"bench-{uuid.uuid4().hex[:8]}")
    per = count // threads

    def run() -> None:
        for n in range(per):
            store.write(_event(n))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    store.close()
    return per * threads / elapsed


def submits(path: Path | str, count: int) -> float:
    store = open_store(path, host_id=f"bench-{uuid.uuid4().hex[:8]}")
    start = time.perf_counter()
    for n in range(count):
        store.submit(_event(n))
    store.flush()
    elapsed = time.perf_counter() - start
    store.close()
    return count / elapsed


def table(
    label: str, count: int, rounds: int, base: Callable[[int], float], target: Callable[[], str]
) -> None:
    """Each round runs the baseline right before each variant (fsync latency drifts with
    other load on the disk); the table shows medians over the rounds."""
    variants: dict[str, Callable[[str], float]] = {
        "write, 1 thread": lambda t: writes(t, count, 1),
        "write, 8 threads": lambda t: writes(t, count, 8),
        "submit + flush": lambda t: submits(t, count * 5),
    }
    bases: list[float] = []
    rates: dict[str, list[float]] = {name: [] for name in variants}
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            before = base(count)
            rate = run(target())
            bases.append(before)
            rates[name].append(rate)
            ratios[name].append(rate / before)
    title = f"{label} (median of {rounds} rounds)"
    print(f"{title:<44} {'events/s':>10} {'x baseline':>11}")
    print(f"{'  bare driver, commit per event (baseline)':<44} {median(bases):>10.0f} {1:>11.2f}")
    for name in variants:
        print(f"{'  ' + name:<44} {median(rates[name]):>10.0f} {median(ratios[name]):>11.2f}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        names = (Path(tmp) / f"{n}.db" for n in range(10_000))
        table(
            "SQLite",
            count,
            rounds,
            lambda c: baseline(next(names), c),
            lambda: str(next(names)),
        )
    if url := os.environ.get("CORRAL_BENCH_PG"):
        table("PostgreSQL", count, rounds, lambda c: baseline_pg(url, c), lambda: url)


if __name__ == "__main__":
    main()
