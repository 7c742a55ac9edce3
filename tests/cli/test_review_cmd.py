"""``corral review``: a review recorded from the terminal, audited with the OS user, then listed."""

import getpass
import json

from typer.testing import CliRunner

from corral.audit import open_store
from corral.cli.app import app
from corral.trust import ReviewStore

runner = CliRunner()


def corral(*args, home):
    return runner.invoke(app, [*map(str, args), "--home", str(home)])


def audit(home):
    store = open_store(str(home / "corral.db"))
    try:
        return [e.to_dict() for e in store.query()]
    finally:
        store.close()


def test_review_name_version_records_reviewer_level_notes_and_date(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("Read every module; no network use; eval in tests only.\n")
    result = corral(
        "review", "good-notes", "1.0.0", "--level", "internal", "--notes", notes, home=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert f"recorded a internal review of good-notes 1.0.0 by {getpass.getuser()}" in result.stdout

    (review,) = ReviewStore(tmp_path / "corral.db").reviews("good-notes")
    assert (review.version, review.level, review.reviewer) == (
        "1.0.0",
        "internal",
        getpass.getuser(),
    )
    assert review.notes == notes.read_text() and review.reviewed_at > 0
    (event,) = audit(tmp_path)
    assert (event["kind"], event["plugin"], event["version"]) == (
        "review.recorded",
        "good-notes",
        "1.0.0",
    )
    assert event["details"]["user"] == getpass.getuser()
    assert event["details"]["reviewer"] == getpass.getuser()

    other = corral(
        "review",
        "good-notes",
        "1.1.0",
        "--level",
        "external",
        "--notes",
        notes,
        "--reviewer",
        "Audit Firm Ltd",
        home=tmp_path,
    )
    assert other.exit_code == 0, other.output
    listed = json.loads(corral("review", "list", "good-notes", "--json", home=tmp_path).stdout)
    assert [(r["version"], r["level"], r["reviewer"]) for r in listed["reviews"]] == [
        ("1.0.0", "internal", getpass.getuser()),
        ("1.1.0", "external", "Audit Firm Ltd"),
    ]
    table = corral("review", "list", home=tmp_path).stdout
    assert "external" in table and "1.1.0" in table


def test_review_mistakes_are_one_clear_line_and_record_nothing(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("ok\n")
    bad_level = corral("review", "p", "1.0.0", "--level", "casual", "--notes", notes, home=tmp_path)
    assert bad_level.exit_code == 1 and "Traceback" not in bad_level.output
    assert "review level 'casual' is not one of internal, external" in bad_level.stderr
    missing = corral(
        "review",
        "p",
        "1.0.0",
        "--level",
        "internal",
        "--notes",
        tmp_path / "none.md",
        home=tmp_path,
    )
    assert missing.exit_code == 1 and "No such file or directory" in missing.stderr
    assert ReviewStore(tmp_path / "corral.db").reviews() == []
    assert audit(tmp_path) == []
