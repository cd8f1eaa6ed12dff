"""R2–R5 and R11 through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask, current_app
from freezegun import freeze_time
from sqlalchemy import select, text

from barometre import services
from barometre.errors import Conflict, NotFound, ValidationFailed
from barometre.extensions import db
from barometre.models import Condition, Establishment, LevelChange, Report, Situation, User
from tests.conftest import BOTH, file_report, report_input

pytestmark = BOTH  # the embedded mode runs these too

IND, C, CELL = "individuel", "collectif", "cellulaire"
FIVE = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")


def level_of(slug: str) -> tuple[str, int, bool]:
    establishment = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    assert establishment is not None
    level = establishment.level
    return level.colour, level.step, level.red_blocked_by_diversity


def settings() -> services.Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def open_situation(code: str, slug: str = "haren") -> Situation:
    return db.session.scalars(
        select(Situation)
        .join(Situation.condition)
        .join(Situation.establishment)
        .where(Situation.status == "open", Establishment.slug == slug)
        .where(Situation.condition.has(code=code))
    ).one()


def test_one_situation_is_orange_one(worker: User) -> None:
    outcome = file_report(worker)
    assert outcome.before.colour == "vert"
    assert level_of("haren") == ("orange", 1, False)


def test_a_reports_situations_open_in_the_order_of_its_codes_whatever_the_tables_history(
    worker: User,
) -> None:
    """An edited condition is stored again at the end of its table (PostgreSQL): read
    without an order, it came last, and the same report gave its situations other ids on
    another database (the console's import job and the CLI disagreed)."""
    first = db.session.scalars(select(Condition).where(Condition.code == "ACC-01")).one()
    first.label_fr += " (revu)"
    db.session.commit()
    outcome = file_report(worker, conditions=("ACC-02", "ACC-01", "SEC-01"))
    opened = sorted(outcome.new_situations, key=lambda s: s.id)
    assert [s.condition.code for s in opened] == ["ACC-01", "ACC-02", "SEC-01"]


def test_same_condition_again_counts_once(worker: User) -> None:
    file_report(worker, offer_types=(IND,))
    outcome = file_report(worker, offer_types=(C,))
    assert level_of("haren") == ("orange", 1, False)
    situation = open_situation("SEC-01")
    assert situation.report_count == 2
    assert situation.offer_type_codes == (IND, C)  # R2: the report adds its offer types
    assert outcome.changes == []


def test_five_on_one_type_blocked_then_red_then_falls_back(worker: User, coordinator: User) -> None:
    for code in FIVE:
        file_report(worker, conditions=(code,), offer_types=(IND,))
    assert level_of("haren") == ("orange", 5, True)
    file_report(worker, conditions=("OFF-06",), offer_types=(C,))
    assert level_of("haren") == ("rouge", 5, False)
    expected = [("orange", 5, True), ("orange", 4, False), ("orange", 3, False)]
    for code, level in zip(["OFF-06", "ACC-01", "ACC-02"], expected, strict=True):
        services.resolve_situation(
            db.session, open_situation(code).id, coordinator, "Réglé avec la direction", settings()
        )
        db.session.commit()
        assert level_of("haren") == level


def test_level_changes_record_history(worker: User, coordinator: User) -> None:
    first = file_report(worker, conditions=("ACC-01",))
    file_report(worker, conditions=("ACC-02",))
    services.resolve_situation(
        db.session, open_situation("ACC-01").id, coordinator, "ok", settings()
    )
    db.session.commit()
    changes = db.session.scalars(select(LevelChange).order_by(LevelChange.id)).all()
    summary = [(c.from_colour, c.from_step, c.to_colour, c.to_step, c.cause) for c in changes]
    assert summary == [
        ("vert", 0, "orange", 1, "report"),
        ("orange", 1, "orange", 2, "report"),
        ("orange", 2, "orange", 1, "resolution"),
    ]
    assert changes[0].cause_id == first.report.id
    assert len(changes[0].new_situation_ids) == 1


def test_rejecting_the_only_report_closes_its_situation(worker: User, coordinator: User) -> None:
    outcome = file_report(worker, conditions=("ACC-01",))
    file_report(worker, conditions=("ACC-02",))
    services.reject_report(db.session, outcome.report.id, coordinator, "Doublon", settings())
    db.session.commit()
    assert level_of("haren") == ("orange", 1, False)
    changes = db.session.scalars(select(LevelChange).order_by(LevelChange.id)).all()
    assert [c.cause for c in changes] == ["report", "report", "rejection"]  # history kept


def test_rejecting_one_of_two_reports_keeps_the_situation(worker: User, coordinator: User) -> None:
    first = file_report(worker, offer_types=(IND,))
    file_report(worker, offer_types=(C,))
    services.reject_report(db.session, first.report.id, coordinator, "Erreur", settings())
    db.session.commit()
    situation = open_situation("SEC-01")
    assert situation.offer_type_codes == (C,)
    assert situation.report_count == 1
    assert level_of("haren") == ("orange", 1, False)


def test_rejection_can_drop_red_for_diversity(worker: User, coordinator: User) -> None:
    for code in FIVE:
        file_report(worker, conditions=(code,), offer_types=(IND,))
    red = file_report(worker, conditions=("OFF-06",), offer_types=(C,))
    assert level_of("haren")[0] == "rouge"
    services.reject_report(db.session, red.report.id, coordinator, "Hors sujet", settings())
    db.session.commit()
    assert level_of("haren") == ("orange", 5, True)


def test_other_establishments_are_untouched(worker: User) -> None:
    file_report(worker, establishment="saint-gilles", conditions=FIVE, offer_types=(IND, C))
    assert level_of("saint-gilles") == ("rouge", 5, False)
    assert level_of("haren") == ("vert", 0, False)


def test_stale_situations_expire(worker: User) -> None:
    with freeze_time("2026-03-01 10:00:00"):
        file_report(worker, conditions=("ACC-01",))
    with freeze_time("2026-03-20 10:00:00"):
        file_report(worker, conditions=("ACC-02",))
        assert level_of("haren") == ("orange", 2, False)
    with freeze_time("2026-04-01 10:00:00"):  # 31 days after the first visit
        changes = services.expire_all(db.session, settings())
        db.session.commit()
        assert level_of("haren") == ("orange", 1, False)
        assert [c.cause for c in changes] == ["expiry"]
    with freeze_time("2026-04-25 10:00:00"):
        services.expire_all(db.session, settings())
        db.session.commit()
        assert level_of("haren") == ("vert", 0, False)


def test_situations_expiring_together_are_named_in_the_order_of_their_ids(worker: User) -> None:
    """A confirmed situation is stored again at the end of its table (PostgreSQL): read
    without an order, the change named the expired ones in another order on another
    database (the console's import job and the CLI disagreed)."""
    with freeze_time("2026-03-01 10:00:00"):
        file_report(worker, conditions=("ACC-01", "ACC-02", "ACC-03"))
    with freeze_time("2026-03-02 10:00:00"):
        file_report(worker, conditions=("ACC-01",))  # its row is written again
    if db.session.get_bind().dialect.name == "postgresql":  # read the table as it lies
        db.session.execute(text("SET LOCAL enable_indexscan = off"))
        db.session.execute(text("SET LOCAL enable_bitmapscan = off"))
    with freeze_time("2026-04-05 10:00:00"):
        [change] = services.expire_all(db.session, settings())
        db.session.commit()
    closed = change.closed_situation_ids or []
    assert len(closed) == 3 and closed == sorted(closed)


def test_confirmation_extends_the_ttl(worker: User) -> None:
    with freeze_time("2026-03-01 10:00:00"):
        file_report(worker)
    with freeze_time("2026-03-25 10:00:00"):
        file_report(worker)
    with freeze_time("2026-04-10 10:00:00"):
        services.expire_all(db.session, settings())
        assert level_of("haren") == ("orange", 1, False)


def test_report_older_than_ttl_is_kept_but_opens_nothing(worker: User) -> None:
    outcome = file_report(worker, days_ago=45)
    assert outcome.report.id is not None
    assert level_of("haren") == ("vert", 0, False)
    assert db.session.scalar(select(Report).where(Report.id == outcome.report.id)) is not None


def test_after_expiry_a_new_report_opens_a_new_situation(worker: User) -> None:
    with freeze_time("2026-03-01 10:00:00"):
        file_report(worker)
    with freeze_time("2026-04-15 10:00:00"):
        file_report(worker)
        situations = db.session.scalars(select(Situation).order_by(Situation.id)).all()
        assert [s.status for s in situations] == ["expired", "open"]


def test_submission_id_makes_a_repeat_return_the_first(worker: User) -> None:
    data = report_input(submission_id="2b1f2a9e-1c4f-4c8e-9a55-0d6c1f7b0e11")
    first = services.record_report(db.session, data, worker, settings())
    db.session.commit()
    again = services.record_report(db.session, data, worker, settings())
    assert again.created is False and again.report.id == first.report.id
    assert db.session.query(Report).count() == 1


def test_a_late_repeat_returns_the_first_even_when_it_would_no_longer_pass(
    worker: User,
) -> None:
    """A phone that retries days later gets its report back, not an error about it."""
    data = report_input(submission_id="5d0c3c1e-8f7b-4b7e-a2a4-4f1b2c3d4e5f")
    first = services.record_report(db.session, data, worker, settings())
    db.session.commit()
    establishment = first.establishment
    establishment.slug = "haren-nouveau"  # renamed since
    db.session.commit()
    with freeze_time(data.visit_date + timedelta(days=settings().max_visit_age_days + 5)):
        again = services.record_report(db.session, data, worker, settings())
    assert again.created is False and again.report.id == first.report.id
    assert db.session.query(Report).count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"establishment": "nulle-part"}, "establishment"),
        ({"visit_date": "future"}, "visit_date"),
        ({"visit_date": "old"}, "visit_date"),
        ({"conditions": []}, "conditions"),
        ({"conditions": ["XXX-99"]}, "conditions"),
        ({"offer_types": []}, "offer_types"),
        ({"offer_types": ["virtuel"]}, "offer_types"),
        ({"description": "x" * 2001}, "description"),
        ({"description": "nul\x00"}, "description"),
        ({"minutes_waited": -1}, "minutes_waited"),
        ({"submission_id": "pas-un-uuid"}, "submission_id"),
    ],
)
def test_bad_input_stores_nothing(worker: User, changes: dict[str, object], field: str) -> None:
    today = report_input().visit_date
    values: dict[str, object] = {
        "establishment": "haren",
        "visit_date": today,
        "conditions": ["SEC-01"],
        "offer_types": [IND],
    }
    values.update(changes)
    if values["visit_date"] == "future":
        values["visit_date"] = today + timedelta(days=1)
    elif values["visit_date"] == "old":
        values["visit_date"] = today - timedelta(days=91)
    data = services.ReportInput.uniform(**values)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed) as failed:
        services.record_report(db.session, data, worker, settings())
    assert field in failed.value.errors
    db.session.rollback()
    assert db.session.query(Report).count() == 0


def test_resolve_needs_a_note_an_open_situation_and_a_known_id(
    worker: User, coordinator: User
) -> None:
    file_report(worker)
    situation = open_situation("SEC-01")
    with pytest.raises(ValidationFailed):
        services.resolve_situation(db.session, situation.id, coordinator, " ", settings())
    with pytest.raises(NotFound):
        services.resolve_situation(db.session, 9999, coordinator, "ok", settings())
    services.resolve_situation(db.session, situation.id, coordinator, "ok", settings())
    db.session.commit()
    with pytest.raises(Conflict):
        services.resolve_situation(db.session, situation.id, coordinator, "ok", settings())


def test_reviewing_an_unknown_report_is_not_found(coordinator: User) -> None:
    """Ids that name nothing (gone, or never there): a 404 of the review, no level touched."""
    for unknown in (9999, 2**31 - 1):
        with pytest.raises(NotFound):
            services.validate_report(db.session, unknown, coordinator, settings())
        with pytest.raises(NotFound):
            services.reject_report(db.session, unknown, coordinator, "motif", settings())
    assert level_of("haren") == ("vert", 0, False)


def test_recompute_all_is_idempotent(app: Flask, worker: User) -> None:
    file_report(worker, conditions=FIVE, offer_types=(IND, C))
    assert services.recompute_all(db.session, settings()) == []
    assert level_of("haren") == ("rouge", 5, False)


class TestReviewRequired:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"reports_require_review": True}

    def test_reports_count_once_validated(self, worker: User, coordinator: User) -> None:
        outcome = file_report(worker)
        assert level_of("haren") == ("vert", 0, False)
        services.validate_report(db.session, outcome.report.id, coordinator, settings())
        db.session.commit()
        assert level_of("haren") == ("orange", 1, False)
