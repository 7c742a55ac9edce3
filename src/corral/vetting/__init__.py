"""Static vetting: corral's own AST rules, findings at file:line, text/JSON/SARIF reports.

One pass over each module's AST feeds every rule (``walk``); findings are
cross-checked against the manifest's declared permissions (``report``);
host-side policy decides what blocks loading (``decide``). In-source
``# nosec`` / ``# noqa`` comments change nothing: the author is not trusted.
"""

from corral.vetting.cache import VettingCache
from corral.vetting.decide import Recorder, check_plugin, vet_plugin
from corral.vetting.files import vet_file, vet_source, vet_tree
from corral.vetting.finding import Finding
from corral.vetting.render import to_json, to_sarif
from corral.vetting.report import Report
from corral.vetting.rules import BY_ID, RULES, Rule
from corral.vetting.walk import RuleSet

__all__ = [
    "BY_ID",
    "RULES",
    "Finding",
    "Recorder",
    "Report",
    "Rule",
    "RuleSet",
    "VettingCache",
    "check_plugin",
    "to_json",
    "to_sarif",
    "vet_file",
    "vet_plugin",
    "vet_source",
    "vet_tree",
]
