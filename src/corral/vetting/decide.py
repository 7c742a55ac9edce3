"""The whole vetting decision for a load: vet, cross-check, and refuse when policy says so.

``Host.load`` calls ``check_plugin`` on the stored, verified bytes once the grant
says which tier judges them, before any worker starts: it returns the report when
loading may go on (findings recorded, nothing blocking) and raises
``VettingError`` naming the first blocking findings otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corral.errors import ManifestError, VettingError
from corral.limits import DEFAULT_LIMITS, Limits
from corral.manifest import find_manifest
from corral.policy import AdminPolicy, Manifest
from corral.vetting.cache import VettingCache, ruleset_id
from corral.vetting.files import plugin_files, vet_file
from corral.vetting.finding import Finding
from corral.vetting.report import Report
from corral.vetting.walk import RuleSet

# ``record(kind, plugin, version, decision, details)``: the caller adapts it to
# its AuditSink (vetting may not import corral.audit; import-linter pins that).
Recorder = Callable[[str, str, str, str, dict[str, Any]], None]
_SHOWN = 5


def vet_plugin(
    root: str | os.PathLike[str],
    manifest: Manifest,
    policy: AdminPolicy,
    tier: str,
    *,
    digest: str = "",
    extra: tuple[Finding, ...] = (),
    rules: RuleSet | None = None,
    limits: Limits = DEFAULT_LIMITS,
    cache: VettingCache | None = None,
) -> Report:
    """Vet every file under ``root`` against ``manifest``'s declared permissions.

    ``tier`` is accepted so the signature is the one the load path calls; the
    tier only matters to ``Report.blocking``. ``extra`` carries findings from
    other tools (bandit) so they are suppressed and cross-checked alike. With
    a ``cache`` and the store ``digest`` of the bytes under ``root``, a
    package vetted before by the same rules costs one lookup.
    """
    del tier
    base = Path(root)
    cached = None
    # The cache only knows the built-in rules; a custom rule set is always run.
    key = ruleset_id(limits) if cache is not None and digest and rules is None else ""
    if key and cache is not None:
        cached = cache.get(digest, key)
    if cached is not None:
        findings, files = cached
    else:
        findings, files = [], 0
        for path, rel in plugin_files(base):
            files += 1
            findings.extend(vet_file(path, rel, rules=rules, limits=limits))
        if key and cache is not None:
            cache.put(digest, key, findings, files)
    findings = [*findings, *extra]
    try:
        manifest_file = find_manifest(base).name
    except ManifestError:
        manifest_file = "plugin.yaml"
    return Report.build(
        manifest.name,
        manifest.version,
        findings,
        manifest.permissions,
        network=manifest.network,
        policy=policy,
        digest=digest,
        manifest_file=manifest_file,
        files=files,
    )


def refusal(report: Report, blocking: list[Finding], tier: str) -> VettingError:
    """The error for a blocked load: the first few findings, each on its own line."""
    lines = [report.reason(f) for f in blocking[:_SHOWN]]
    more = len(blocking) - _SHOWN
    if more > 0:
        lines.append(f"... and {more} more (corral vet shows them all)")
    head = (
        f"plugin {report.plugin!r} {report.version} is blocked by vetting in tier {tier}: "
        f"{len(blocking)} finding(s)"
    )
    return VettingError("\n  ".join([head, *lines]))


def check_plugin(
    root: str | os.PathLike[str],
    manifest: Manifest,
    policy: AdminPolicy,
    tier: str,
    *,
    digest: str = "",
    record: Recorder | None = None,
    rules: RuleSet | None = None,
    cache: VettingCache | None = None,
) -> Report:
    """Vet, record each finding, and raise ``VettingError`` if anything blocks."""
    report = vet_plugin(root, manifest, policy, tier, digest=digest, rules=rules, cache=cache)
    blocking = report.blocking(policy, tier)
    if record is not None:
        blocked = set(blocking)
        for f in report.findings:
            details = f.to_dict()
            details["undeclared"] = f in report.undeclared
            details["digest"] = digest
            decision = "deny" if f in blocked else "info"
            record("vetting.finding", manifest.name, manifest.version, decision, details)
    if blocking:
        raise refusal(report, blocking, tier)
    return report
