"""The host-side figures: vetting throughput, chained audit appends, package verification.

Each is measured against what a team would use instead on the same input, in
the same process, interleaved run by run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.bench_vetting import bandit_in_process, corral_in_process, make_tree
from benchmarks.harness import Figure, Stats, interleave, timed
from corral.audit import AuditEvent, open_store
from corral.trust import Keyring, keys, sign_package
from corral.trust.verify import Verifier


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        yield Path(tmp)


def vetting(runs: int, files: int = 150) -> Figure:
    """Files per second: corral's AST rules against bandit, on the same stdlib files."""
    with _scratch() as root:
        count, _ = make_tree(root, files)
        mine, base = interleave(
            lambda: count / timed(lambda: corral_in_process(root)),
            lambda: count / timed(lambda: bandit_in_process(root)),
            runs=runs,
            warmup=1,
        )
    return Figure(
        "vetting throughput", "files/s", Stats.of(mine), Stats.of(base),
        f"bandit on the same {count} stdlib files", goal=5.0, better="higher",
    )


def audit_append(runs: int, count: int = 2000) -> Figure:
    """Events per second into the chained SQLite store, against a plain executemany."""
    with _scratch() as root:

        def ours() -> float:
            store = open_store(str(root / f"{uuid.uuid4().hex}.db"), host_id="bench")
            events = [_event(n) for n in range(count)]
            start = time.perf_counter()
            for event in events:
                store.submit(event)
            store.flush()
            elapsed = time.perf_counter() - start
            store.close()
            return count / elapsed

        def theirs() -> float:
            conn = sqlite3.connect(root / f"{uuid.uuid4().hex}.db", isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE log (id TEXT, time REAL, kind TEXT, details TEXT)")
            rows = [
                (uuid.uuid4().hex, time.time(), "denied", json.dumps({"n": n}))
                for n in range(count)
            ]
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO log VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            elapsed = time.perf_counter() - start
            conn.close()
            return count / elapsed

        mine, base = interleave(ours, theirs, runs=runs, warmup=1)
    return Figure(
        "audit append (events/s, chained)", "events/s", Stats.of(mine), Stats.of(base),
        "plain executemany into SQLite (WAL, synchronous=FULL)", goal=0.5, better="higher",
        note="submit + flush: batched group commit, every event hash-chained",
    )


def verify_package(runs: int, files: int = 1000) -> Figure:
    """Seconds to verify a signed 1,000-file package, against hashing its files with hashlib."""
    with _scratch() as root:
        package = root / "big"
        (package / "data").mkdir(parents=True)
        (package / "plugin.yaml").write_text("name: big\nversion: 1.0.0\nentry: big\n")
        (package / "big.py").write_text("VALUE = 1\n")
        for n in range(files - 2):
            (package / "data" / f"f{n:04}.txt").write_bytes(uuid.uuid4().bytes * 64)
        key = keys.generate()
        sign_package(package, key, publisher="bench")
        paths = sorted(p for p in package.rglob("*") if p.is_file())

        def ours() -> float:
            verifier = Verifier(Keyring())  # no state: nothing cached, every file hashed
            return timed(lambda: verifier.verify(package))

        def theirs() -> float:
            return timed(lambda: [hashlib.sha256(p.read_bytes()).digest() for p in paths])

        mine, base = interleave(ours, theirs, runs=runs, warmup=1)
    return Figure(
        "verify a 1,000-file package", "ms", Stats.of([m * 1e3 for m in mine]),
        Stats.of([b * 1e3 for b in base]), "hashing the same files with hashlib",
        goal=2.0, better="lower", note="signature, statement, hygiene and every hash",
    )


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        time=time.time(),
        kind="denied",
        plugin="bench",
        decision="deny",
        host_id="bench",
        details={"n": n, "permission": "file:read=/etc/shadow"},
    )
