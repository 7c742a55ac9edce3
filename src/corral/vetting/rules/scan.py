"""Findings about a file as a whole: it could not be read, parsed or vetted at all.

No hooks: the file walker reports these itself. They exist as rules so they
have ids, severities and SARIF descriptions like every other finding. A file
that cannot be vetted is treated as suspect, never skipped (fail secure).
"""

from __future__ import annotations

from corral.vetting.rules.base import Rule


class Unparsable(Rule):
    id = "CRL001"
    name = "unparsable"
    family = "file"
    severity = "high"
    summary = "a Python file that does not parse, so it could not be vetted"


class TooLarge(Rule):
    id = "CRL002"
    name = "file-too-large"
    family = "file"
    severity = "high"
    summary = "a Python file above the vetting size cap, so it was not vetted"


class Unvettable(Rule):
    id = "CRL003"
    name = "unvettable-file"
    family = "file"
    severity = "high"
    summary = "compiled code or a link, which static vetting cannot read"
