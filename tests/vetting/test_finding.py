"""Fingerprints: stable when lines move, different when the code or its place differs."""

from corral.vetting import vet_source

CODE = "import os\n\ndef clean(p):\n    os.remove(p)\n"


def fingerprints(source):
    return [f.fingerprint for f in vet_source(source, "tool.py")]


def test_a_fingerprint_survives_lines_added_above():
    moved = "import os\n# a comment\n\n\nX = 1\n\ndef clean(p):\n    os.remove(p)\n"
    assert fingerprints(CODE) == fingerprints(moved)
    assert vet_source(CODE, "tool.py")[0].line != vet_source(moved, "tool.py")[0].line


def test_a_fingerprint_ignores_spacing_in_the_flagged_code():
    assert fingerprints(CODE) == fingerprints(CODE.replace("os.remove(p)", "os.remove( p )"))


def test_the_same_call_in_another_function_or_file_is_another_finding():
    other = CODE + "\ndef wipe(p):\n    os.remove(p)\n"
    first, second = fingerprints(other)
    assert first != second
    assert fingerprints(CODE) != [f.fingerprint for f in vet_source(CODE, "other.py")]


def test_repeated_identical_calls_in_one_function_are_told_apart():
    twice = "import os\n\ndef clean(p):\n    os.remove(p)\n    os.remove(p)\n"
    first, second = fingerprints(twice)
    assert first != second
