"""Security reviews: one exact version, a level, notes, a reviewer, a date; checked on the way in.

Every store test runs on SQLite and on a real PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import pytest

from corral.errors import HostError
from corral.runtime.shared import open_reviews
from corral.trust import ReviewStore, review_command


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """A lifecycle target: the home's corral.db, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "corral.db")
    return request.getfixturevalue("postgresql_backend").target


@pytest.fixture
def reviews(target):
    clock = iter(float(t) for t in range(1000, 2000))
    return open_reviews(target, clock=lambda: next(clock))


def test_the_factory_follows_the_target_and_a_path_still_means_sqlite(target, tmp_path):
    store = open_reviews(target)
    assert store.tables.kind == ("postgresql" if target.startswith("postgresql") else "sqlite")
    review = store.add("notes", "1.0.0", level="external", notes="n", reviewer="firm")
    assert open_reviews(target).reviews() == [review]
    assert ReviewStore(tmp_path / "other.db").tables.kind == "sqlite"


def test_a_review_is_stored_for_one_exact_version(reviews):
    review = reviews.add("notes", "1.0.0", level="internal", notes="read it all", reviewer="ana")
    assert (review.reviewer, review.level, review.reviewed_at) == ("ana", "internal", 1000.0)
    assert reviews.satisfying("notes", "1.0.0", "internal") == review
    assert reviews.satisfying("notes", "1.0.1", "internal") is None
    assert reviews.satisfying("other", "1.0.0", "internal") is None


def test_an_external_review_meets_an_internal_requirement_but_not_the_reverse(reviews):
    reviews.add("notes", "1.0.0", level="internal", notes="ok", reviewer="ana")
    assert reviews.satisfying("notes", "1.0.0", "external") is None
    external = reviews.add("notes", "1.0.0", level="external", notes="audit", reviewer="firm")
    assert reviews.satisfying("notes", "1.0.0", "external") == external
    assert reviews.satisfying("notes", "1.0.0", "internal") == external


def test_since_asks_for_a_review_after_a_date(reviews):
    old = reviews.add("notes", "1.0.0", level="internal", notes="ok", reviewer="ana")
    assert reviews.satisfying("notes", "1.0.0", "internal", since=old.reviewed_at + 1) is None
    new = reviews.add("notes", "1.0.0", level="internal", notes="again", reviewer="ana")
    assert reviews.satisfying("notes", "1.0.0", "internal", since=old.reviewed_at + 1) == new
    assert [r.id for r in reviews.reviews("notes")] == [old.id, new.id]


@pytest.mark.parametrize(
    ("plugin", "version", "level", "notes", "reviewer", "message"),
    [
        ("notes", "1.0", "internal", "x", "ana", "not a semantic version"),
        ("notes", "1.0.0", "none", "x", "ana", "review level 'none' is not one of internal"),
        ("notes", "1.0.0", "internal", "  ", "ana", "notes are empty"),
        ("notes", "1.0.0", "internal", "x" * 70000, "ana", "longer than 65536 bytes"),
        ("../x", "1.0.0", "internal", "x", "ana", "not a plugin name"),
        ("notes", "1.0.0", "internal", "x", " ", "needs a reviewer"),
    ],
)
def test_a_bad_review_is_refused_with_the_reason(
    reviews, plugin, version, level, notes, reviewer, message
):
    with pytest.raises(HostError, match=message):
        reviews.add(plugin, version, level=level, notes=notes, reviewer=reviewer)
    assert reviews.reviews() == []


def test_the_command_a_refusal_names():
    assert review_command("notes", "2.0.0", "external") == (
        "corral review notes 2.0.0 --level external --notes FILE"
    )
