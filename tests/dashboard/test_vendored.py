"""The vendored chart library is the one VENDORED.txt records (scripts/vendor_js.sh wrote both)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import corral.dashboard

VENDOR = Path(corral.dashboard.__file__).parent / "static" / "vendor"


def test_every_vendored_file_matches_its_recorded_sha256():
    lines = (VENDOR / "VENDORED.txt").read_text().splitlines()
    recorded = dict(reversed(line.split("  ", 1)) for line in lines if "  " in line)
    assert set(recorded) == {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_pages_load_the_vendored_copy_not_a_cdn():
    base = (Path(corral.dashboard.__file__).parent / "templates" / "base.html").read_text()
    assert 'src="/static/vendor/uPlot.iife.min.js"' in base
    assert "http" not in base
