"""Files that cannot be vetted are findings, never crashes and never skipped."""

import os
import time

import pytest

from corral.limits import Limits
from corral.vetting import vet_source, vet_tree


def test_a_syntax_error_is_a_finding_at_its_line():
    (finding,) = vet_source("x = 1\ndef broken(:\n", "bad.py")
    assert (finding.rule, finding.path, finding.line, finding.severity) == (
        "CRL001",
        "bad.py",
        2,
        "high",
    )
    assert "does not parse" in finding.message


def test_null_bytes_and_bad_encodings_are_findings(tmp_path):
    (tmp_path / "nul.py").write_bytes(b"x = 1\x00\n")
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: nope -*-\nx = 1\n")
    assert [f.rule for f in vet_tree(tmp_path)] == ["CRL001", "CRL001"]


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path):
    (tmp_path / "big.py").write_text("x = 1\n" * 100)
    (tmp_path / "small.py").write_text("eval('1')\n")
    found = vet_tree(tmp_path, limits=Limits(vet_file_bytes=64))
    assert [(f.path, f.rule) for f in found] == [("big.py", "CRL002"), ("small.py", "CRL101")]
    assert "64-byte vetting cap" in found[0].message


def test_compiled_code_and_links_are_findings(tmp_path):
    (tmp_path / "fast.so").write_bytes(b"\x7fELF")
    os.symlink("/etc/passwd", tmp_path / "link.py")
    (tmp_path / "data.json").write_text("{}")
    found = {(f.path, f.rule) for f in vet_tree(tmp_path)}
    assert found == {("fast.so", "CRL003"), ("link.py", "CRL003")}


def test_bytecode_caches_are_left_out_like_the_store_leaves_them_out(tmp_path):
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\x00" * 16)
    (tmp_path / "__pycache__" / "evil.py").write_text("eval('1')\n")
    assert vet_tree(tmp_path) == []


def test_pathologically_nested_code_is_a_finding_not_a_crash():
    source = "x = " + "(" * 150 + "1" + ")" * 150 + "\ny = " + "-" * 5000 + "1\n"
    found = vet_source(source, "deep.py")
    assert all(f.rule == "CRL001" for f in found)


def test_nesting_python_compiles_but_the_walk_cannot_follow_is_critical_and_keeps_findings():
    # An evasion: bury the rest of the file under nesting the walker cannot descend.
    source = "import os\nos.system('x')\ny = " + "-" * 1500 + "1\n"
    compile(source, "deep.py", "exec")  # the interpreter would run it
    found = {(f.rule, f.severity) for f in vet_source(source, "deep.py")}
    assert found == {("CRL001", "critical"), ("CRL202", "high")}


@pytest.mark.timeout(10)
def test_a_hostile_literal_cannot_make_the_rules_backtrack():
    # a long almost-hex string that fails at its last character
    started = time.perf_counter()
    vet_source('x = "' + "a" * 5000 + 'z"\n')
    vet_source('x = "' + "\\x41" * 5000 + 'z"\n')
    assert time.perf_counter() - started < 1.0
