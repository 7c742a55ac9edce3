"""A vetting report: findings cross-checked against what the manifest declares.

A finding whose ``needs`` permission the manifest declares is information
for the reviewer; one whose permission is not declared is an error, because
the plugin will be refused at run time anyway and the author should hear it
now, with the line: "uses subprocess.run at tool.py:12 but plugin.yaml
grants no subprocess:execute".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from corral.policy import AdminPolicy, Permission, PermissionSyntaxError
from corral.vetting.finding import CONFIDENCES, SEVERITIES, Finding


def declares(permissions: Iterable[Permission], needs: str, network: str | None = None) -> bool:
    """Whether a declared permission covers ``needs`` (unscoped: any scope of that action).

    A manifest that declares ``network: full`` asks for every connection, so
    no ``network:*`` line is needed on top of it.
    """
    try:
        want = Permission.parse(needs)
    except PermissionSyntaxError:  # a needs no permission can spell: nothing declares it
        return False
    if want.domain == "network" and network == "full":
        return True
    for p in permissions:
        if want.scope is None:
            if p.domain == want.domain and p.grants(want.action):
                return True
        elif p.covers(want):
            return True
    return False


@dataclass(frozen=True)
class Report:
    """Everything vetting found in one plugin build, after host-side suppressions."""

    plugin: str
    version: str
    findings: tuple[Finding, ...]
    undeclared: tuple[Finding, ...] = ()
    suppressed: tuple[Finding, ...] = ()
    digest: str = ""
    manifest_file: str = "plugin.yaml"
    files: int = 0
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def build(
        cls,
        plugin: str,
        version: str,
        findings: Iterable[Finding],
        declared: Iterable[Permission],
        *,
        network: str | None = None,
        policy: AdminPolicy | None = None,
        digest: str = "",
        manifest_file: str = "plugin.yaml",
        files: int = 0,
        notes: tuple[str, ...] = (),
    ) -> Report:
        """Apply ``policy``'s suppressions and cross-check ``needs`` against ``declared``.

        ``network`` is the manifest's declared network level, if any.
        """
        permissions = tuple(declared)
        kept: list[Finding] = []
        suppressed: list[Finding] = []
        for f in findings:
            if policy is not None and policy.vetting.suppressed(
                plugin, version, digest, f.rule, f.fingerprint
            ):
                suppressed.append(f)
            else:
                kept.append(f)
        undeclared = tuple(
            f for f in kept if f.needs and not declares(permissions, f.needs, network)
        )
        return cls(
            plugin=plugin,
            version=version,
            findings=tuple(kept),
            undeclared=undeclared,
            suppressed=tuple(suppressed),
            digest=digest,
            manifest_file=manifest_file,
            files=files,
            notes=notes,
        )

    def explain_undeclared(self, finding: Finding) -> str:
        """The error line for a finding whose permission is not declared."""
        return (
            f"uses {finding.subject or finding.name} at {finding.path}:{finding.line} "
            f"but {self.manifest_file} grants no {finding.needs}"
        )

    def blocking(self, policy: AdminPolicy, tier: str) -> list[Finding]:
        """The findings that stop this plugin loading in ``tier`` under ``policy``.

        A finding blocks when its severity is one the tier blocks and its
        confidence is at least ``block_confidence``, or when it uses a
        permission the manifest does not declare and the tier blocks those.
        """
        rules = policy.vetting
        severities = set(rules.blocks(tier))
        floor = CONFIDENCES.index(rules.block_confidence)
        undeclared = set(self.undeclared) if tier in rules.block_undeclared else set()
        return [
            f
            for f in self.findings
            if f in undeclared
            or (f.severity in severities and CONFIDENCES.index(f.confidence) >= floor)
        ]

    def counts(self) -> dict[str, int]:
        """Findings per severity, lowest first."""
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    def reason(self, finding: Finding) -> str:
        """One line for a finding: where, what, and the missing permission if any."""
        if finding in self.undeclared:
            return f"{finding.where}: {finding.rule} {self.explain_undeclared(finding)}"
        return f"{finding.where}: {finding.rule} [{finding.severity}] {finding.message}"
