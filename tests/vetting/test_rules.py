"""Every rule fires on its examples at the right line, and nowhere else.

The fixture tree ``tests/plugins/fixtures/vetting_bad`` has one file per
rule family; each line that must be flagged ends in ``# expect: CRLnnn``.
Each file also shows the rule reached through an alias (``import x as y``,
``from m import f as g``, ``g = f``, ``getattr``).
"""

import pytest

from corral.vetting import RULES, vet_source, vet_tree
from tests.vetting.conftest import BAD, expected

FAMILY_FILES = sorted(p.name for p in BAD.glob("*.py") if p.name != "near_misses.py")


@pytest.mark.parametrize("name", FAMILY_FILES)
def test_each_rule_fires_on_exactly_its_marked_lines(name):
    path = BAD / name
    found = {(f.path, f.line, f.rule) for f in vet_source(path.read_bytes(), name)}
    assert found == expected(path)


def test_every_rule_with_hooks_has_an_example_in_the_fixtures():
    marked = {rule for p in BAD.glob("*.py") for _, _, rule in expected(p)}
    code_rules = {r.id for r in RULES if r.family != "file"}
    assert code_rules <= marked


def test_near_misses_are_not_flagged():
    # ast.literal_eval, cursor.exec(), $HOME, a literal import_module("json"),
    # yaml.safe_load, short strings, a local function called compile
    assert vet_source((BAD / "near_misses.py").read_bytes(), "near_misses.py") == []


def test_the_clean_plugin_produces_nothing(good):
    assert vet_tree(good) == []


def test_nosec_and_noqa_in_the_source_change_nothing():
    plain = vet_source("def f(t):\n    eval(t)\n    exec(t)\n")
    marked = vet_source("def f(t):\n    eval(t)  # nosec\n    exec(t)  # noqa: S102\n")
    assert [(f.rule, f.line, f.fingerprint) for f in marked] == [
        (f.rule, f.line, f.fingerprint) for f in plain
    ]
    assert len(marked) == 2


def test_a_method_named_exec_is_judged_by_what_it_resolves_to():
    assert vet_source("import sqlite3\nc = sqlite3.connect(':memory:')\nc.exec('x')\n") == []
    assert [f.rule for f in vet_source("e = exec\ne('x')\n")] == ["CRL101"]


def test_a_module_function_named_eval_is_not_the_builtin():
    assert vet_source("def eval(x):\n    return x\n\neval('1')\n") == []


def test_star_imports_resolve_through_the_module():
    found = vet_source("from subprocess import *\nrun(['/bin/ls'])\n")
    assert [(f.rule, f.subject) for f in found] == [("CRL201", "subprocess.run")]


def test_decoded_data_is_tracked_through_a_variable_only_within_its_function():
    source = (
        "import base64\n"
        "def a(s):\n    p = base64.b64decode(s)\n    exec(p)\n"
        "def b(p):\n    exec(p)\n"
    )
    by_line = {(f.line, f.rule) for f in vet_source(source)}
    assert (4, "CRL801") in by_line
    assert (6, "CRL801") not in by_line


def test_reassigning_a_decoded_name_clears_it():
    source = "import base64\np = base64.b64decode('eA==')\np = 'x'\nexec(p)\n"
    assert [f.rule for f in vet_source(source)] == ["CRL101"]


def test_severity_and_needed_permission_are_on_each_finding():
    (finding,) = vet_source("import os\nos.environ['API_TOKEN']\n", "t.py")
    assert (finding.rule, finding.severity, finding.needs) == (
        "CRL901",
        "medium",
        "env:read=API_TOKEN",
    )
    assert finding.where == "t.py:2:1"


def test_escape_primitives_are_high_and_ordinary_metaprogramming_medium():
    found = vet_source("def f(g, cls):\n    g.__globals__\n    cls.__mro__\n    g.__code__\n")
    assert [(f.line, f.severity) for f in found] == [(2, "high"), (3, "medium"), (4, "medium")]


def test_a_parameter_hides_a_builtin_or_module_only_inside_its_function():
    source = (
        "import os\n"
        "def run(compile, os):\n    compile('x')\n    os.system('y')\n"
        "f = lambda eval: eval('z')\n"
        "def later(x=eval('d')):\n    os.system('w')\n"
    )
    assert [(f.line, f.rule) for f in vet_source(source)] == [(6, "CRL101"), (7, "CRL202")]


def test_code_in_decorators_defaults_and_annotations_is_vetted():
    source = (
        "@exec('a')\n"
        "def f(x: eval('b') = eval('c'), *a: exec('d'), k=exec('e')) -> compile('f', '', 'eval'):\n"
        "    pass\n"
    )
    assert [f.line for f in vet_source(source)] == [1, 2, 2, 2, 2, 2]
