"""Proving a host's chain: walk it in ``seq`` order and name the first bad record.

A store keeps, per host, its records, a *head* (the seq and hash of the last
record it appended) and, after a prune, a *checkpoint* (the seq and hash of
the last record it deleted). The walk starts from the checkpoint (or the
genesis hash), recomputes every record's hash, checks each one links to its
predecessor, and ends at the head, so an edit, a deletion anywhere (a gap, a
cut-off tail), a swap of two records and a record slipped in are each caught
and told apart.

Tamper *evidence*, not proof of authorship: whoever can write the database
can also rewrite a whole chain consistently from some point on. Comparing
heads with a copy kept elsewhere catches that; the chain makes any smaller
change visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from corral.audit.events import GENESIS, AuditEvent


@dataclass(frozen=True)
class Link:
    """A point in a chain: a seq and the hash of the record at it."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Problem:
    """The first bad record of a chain: where, which record, and what is wrong."""

    seq: int
    id: str
    what: str  # edited | deleted | reordered | inserted
    detail: str

    def __str__(self) -> str:
        who = f" (id {self.id})" if self.id else ""
        return f"seq {self.seq}{who}: {self.what}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """The verdict on one host's chain."""

    host_id: str
    records: int
    first_seq: int
    last_seq: int
    checkpoint: Link | None
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        start = f"from checkpoint seq {self.checkpoint.seq}" if self.checkpoint else "from genesis"
        if self.problem is None:
            return (
                f"host {self.host_id}: ok, {self.records} records "
                f"(seq {self.first_seq}..{self.last_seq}, {start})"
            )
        return f"host {self.host_id}: BROKEN at {self.problem}"


def verify_chain(
    host_id: str,
    records: Iterable[AuditEvent],
    *,
    checkpoint: Link | None = None,
    head: Link | None = None,
    locate: Callable[[str], int | None] = lambda _hash: None,
) -> ChainReport:
    """Walk ``records`` (ascending seq) from ``checkpoint`` to ``head``; stop at the first bad one.

    ``locate(hash)`` finds the seq of the record with that hash, if any; it is
    asked only once something is wrong, to tell a moved record from an edited one.
    """
    expected_seq = checkpoint.seq + 1 if checkpoint else 1
    expected_prev = checkpoint.hash if checkpoint else GENESIS
    first = last = 0
    count = 0
    before: AuditEvent | None = None

    def report(problem: Problem | None) -> ChainReport:
        return ChainReport(host_id, count, first, last, checkpoint, problem)

    for record in records:
        problem = _check(record, expected_seq, expected_prev, before, head, locate)
        if problem is not None:
            return report(problem)
        count += 1
        first = first or record.seq
        last = record.seq
        expected_seq, expected_prev = record.seq + 1, record.hash
        before = record
    if head is not None and head.seq >= expected_seq:
        missing = f"{expected_seq}..{head.seq}" if head.seq > expected_seq else str(head.seq)
        return report(
            Problem(expected_seq, "", "deleted", f"records seq {missing} missing at the end")
        )
    if head is not None and head.seq == last and last and head.hash != expected_prev:
        return report(Problem(last, before.id if before else "", "edited", "head hash differs"))
    return report(None)


def _check(  # noqa: PLR0917 - one call site, every argument is the walk's state
    record: AuditEvent,
    expected_seq: int,
    expected_prev: str,
    before: AuditEvent | None,
    head: Link | None,
    locate: Callable[[str], int | None],
) -> Problem | None:
    if head is not None and record.seq > head.seq:
        return Problem(record.seq, record.id, "inserted", f"beyond the chain head (seq {head.seq})")
    if record.seq > expected_seq:
        missing = (
            f"{expected_seq}..{record.seq - 1}"
            if record.seq - 1 > expected_seq
            else (str(expected_seq))
        )
        return Problem(record.seq, record.id, "deleted", f"records seq {missing} missing before it")
    intact = record.compute_hash() == record.hash
    linked = record.prev_hash == expected_prev
    if intact and linked:
        return None
    if before is not None and record.prev_hash == before.prev_hash and not linked:
        return Problem(
            before.seq,
            before.id,
            "inserted",
            f"not part of the chain: record seq {record.seq} links past it to seq {before.seq - 1}",
        )
    home = None if linked else locate(record.prev_hash)
    if home is not None:
        return Problem(
            record.seq,
            record.id,
            "reordered",
            f"it follows the record now at seq {home}, not its predecessor",
        )
    if not intact:
        return Problem(record.seq, record.id, "edited", "its content does not match its hash")
    if before is not None and record.seq == before.seq + 1:
        return Problem(
            before.seq,
            before.id,
            "edited",
            f"its hash was recomputed: record seq {record.seq} still links to the original",
        )
    return Problem(record.seq, record.id, "inserted", "it does not link to the record before it")
