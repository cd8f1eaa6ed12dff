"""The year told (issue 27): figures you can check against a hand-computed 2024.

2024 is a leap year (29 February); Brussels went to summer time on 31 March (a day of
23 hours) and back on 27 October (25 hours). A level that starts at local midnight
on such a day counts that day as one whole day.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre import year_report as yr
from barometre.charts import Change, Span
from barometre.extensions import db
from barometre.models import Condition, Establishment, LevelChange, Report, Situation
from barometre.states import ReviewState, SituationState
from tests.conftest import BOTH, login
from tests.test_history_import import frozen  # noqa: F401 - the import tests' fixture

BRUSSELS = ZoneInfo("Europe/Brussels")
YEAR = yr.Period(date(2024, 1, 1), date(2024, 12, 31))
MARKERS = ("MARQUEUR-TEXTE-7f3a", "MARQUEUR-AUTEUR-7f3a", "MARQUEUR-SERVICE-7f3a")


def local(*args: int) -> datetime:
    """A Brussels wall-clock time as stored: naive UTC."""
    return datetime(*args, tzinfo=BRUSSELS).astimezone(UTC).replace(tzinfo=None)  # type: ignore[misc]


# The hand-computed year: orange 2 since December 2023, rouge from 29 February, orange 1
# from midnight on 31 March (the day of 23 hours), vert from midnight on 27 October (25
# hours), orange 3 from noon on 31 December.
CHANGES = [
    Change(local(2023, 12, 1, 13), 0, 2),
    Change(local(2024, 2, 29), 2, 6),
    Change(local(2024, 3, 31), 6, 1),
    Change(local(2024, 10, 27), 1, 0),
    Change(local(2024, 12, 31, 12), 0, 3),
]
# 1 Jan-28 Feb: 31 + 28; 29 Feb-30 Mar: 1 + 30; 31 Mar-26 Oct: 1+30+31+30+31+31+30+26;
# 27 Oct-31 Dec noon: 5 + 30 + 30 + 0.5; the last half day.
EXPECTED = {0: 65.5, 1: 210.0, 2: 59.0, 3: 0.5, 4: 0.0, 5: 0.0, 6: 31.0}


def year_bounds() -> tuple[datetime, datetime]:
    return YEAR.bounds(BRUSSELS, datetime(2025, 6, 1))


def test_days_per_level_of_a_hand_computed_leap_year() -> None:
    start, end = year_bounds()
    stretches = yr.days_per_level(CHANGES, 3, start, end, local(2023, 12, 1, 13), BRUSSELS)
    days = yr.totals(stretches, yr.RANKS)
    assert days == pytest.approx(EXPECTED, abs=1e-9)
    assert sum(days.values()) == pytest.approx(366)
    assert [s.rank for s in stretches] == [2, 6, 1, 0, 3]
    assert all(s.rank is not None for s in stretches)


def test_a_switch_day_counts_one_day_and_its_hours_their_share() -> None:
    # 31 March 2024: 23 hours; 27 October 2024: 25 hours; each is one day.
    assert yr.local_days(local(2024, 3, 31), local(2024, 4, 1), BRUSSELS) == 1
    assert yr.local_days(local(2024, 10, 27), local(2024, 10, 28), BRUSSELS) == 1
    # Midnight to noon on 27 October: 13 real hours of 25.
    assert yr.local_days(local(2024, 10, 27), local(2024, 10, 27, 12), BRUSSELS) == 13 / 25
    assert yr.local_days(local(2024, 2, 29), local(2024, 3, 1), BRUSSELS) == 1


def test_an_establishment_known_from_july_has_no_data_before() -> None:
    start, end = year_bounds()
    first = local(2024, 7, 1)
    stretches = yr.days_per_level([Change(first, 0, 1)], 1, start, end, first, BRUSSELS)
    assert stretches[0].rank is None
    assert stretches[0].days == 31 + 29 + 31 + 30 + 31 + 30  # « sans données »: 182
    assert yr.totals(stretches, yr.RANKS) == pytest.approx(
        {0: 0, 1: 184, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0}
    )


def test_the_period_ends_now() -> None:
    start, end = YEAR.bounds(BRUSSELS, local(2024, 3, 31, 12))
    stretches = yr.days_per_level(CHANGES, 3, start, end, None, BRUSSELS)
    assert [s.rank for s in stretches] == [None]  # no record at all: no data
    known = yr.days_per_level(CHANGES, 3, start, end, local(2023, 12, 1, 13), BRUSSELS)
    # 31 March: midnight to noon is 11 real hours of 23.
    assert yr.totals(known, yr.RANKS)[1] == pytest.approx(11 / 23)


def test_days_per_offer_type_step() -> None:
    start, end = year_bounds()
    spans = [
        Span(local(2024, 2, 29), local(2024, 3, 31), ("individuel", "collectif")),
        Span(local(2024, 3, 1), None, ("individuel",)),
    ]
    days = yr.offer_type_days(spans, start, end, BRUSSELS)
    assert days["individuel"] == pytest.approx({0: 59, 1: 1 + 276, 2: 30, 3: 0, 4: 0, 5: 0})
    assert days["collectif"] == pytest.approx({0: 335, 1: 31, 2: 0, 3: 0, 4: 0, 5: 0})
    assert days["cellulaire"][0] == pytest.approx(366)


@pytest.mark.parametrize(
    ("first", "last", "words"),
    [
        ("2024-02-30", "2024-12-31", "invalide"),
        ("hier", None, "invalide"),
        ("", None, "invalide"),
        ("1999-12-31", None, "invalide"),
        ("2024-12-31", "2024-01-01", "précède"),
        ("2010-01-01", "2024-12-31", "trop longue"),
    ],
)
def test_bad_periods_are_refused_in_french(
    app: Any, first: str, last: str | None, words: str
) -> None:
    with app.test_request_context(), pytest.raises(yr.PeriodError, match=words):
        yr.parse_period(first, last, date(2024, 6, 1))


def test_days_are_shown_to_the_nearest_day_a_half_day_up() -> None:
    assert [yr.whole_days(d) for d in (0.49, 0.5, 65.5, 2.5, None)] == [0, 1, 66, 3, None]


def test_the_default_is_this_year_up_to_today() -> None:
    assert yr.parse_period(None, None, date(2026, 3, 4)) == yr.Period(
        date(2026, 1, 1), date(2026, 3, 4)
    )


# --- from the database ------------------------------------------------------------------


def situation(
    establishment: Establishment,
    code: str,
    opened: datetime,
    closed: datetime | None = None,
    status: str = SituationState.OPEN,
    types: str = "individuel",
) -> Situation:
    condition = db.session.scalars(select(Condition).where(Condition.code == code)).one()
    row = Situation(
        establishment_id=establishment.id,
        condition_id=condition.id,
        status=status,
        offer_types=types,
        opened_at=opened,
        first_visit=opened.date(),
        last_confirmed=opened.date(),
        report_count=1,
        closed_at=closed,
    )
    db.session.add(row)
    return row


@pytest.fixture
def year(app: Any) -> Establishment:
    """The hand-computed year, recorded: a new establishment known from 1 December 2023."""
    establishment = Establishment(slug="annee", name="Prison de l'Année", colour="orange", step=3)
    db.session.add(establishment)
    db.session.flush()
    for change in CHANGES:
        colour_from = (
            "rouge" if change.rank_before == 6 else "vert" if not change.rank_before else "orange"
        )
        colour_to = (
            "rouge" if change.rank_after == 6 else "vert" if not change.rank_after else "orange"
        )
        db.session.add(
            LevelChange(
                establishment_id=establishment.id,
                at=change.at,
                from_colour=colour_from,
                from_step=min(change.rank_before, 5),
                to_colour=colour_to,
                to_step=min(change.rank_after, 5),
                open_situations=1,
                cause="import",
            )
        )
    # SEC-01 twice (6 and 10 days), SEC-03 once (still open at the end: 16 days);
    # a withdrawn one broke nothing.
    situation(establishment, "SEC-01", local(2024, 3, 1), local(2024, 3, 7), "resolved")
    situation(establishment, "SEC-01", local(2024, 5, 1), local(2024, 5, 11), "expired")
    situation(establishment, "SEC-03", local(2024, 12, 16))
    situation(establishment, "SEC-03", local(2024, 6, 1), local(2024, 6, 2), "withdrawn")
    # Closed after the period: its whole time open counts (5 days), its closing does not.
    situation(establishment, "ACC-01", local(2024, 12, 30), local(2025, 1, 4), "resolved")
    # Closed in 2024 but opened in 2023: its time to close counts, not its opening.
    situation(establishment, "SEC-01", local(2023, 12, 1, 13), local(2024, 1, 2, 13), "resolved")
    for visit, state in [
        (date(2024, 1, 5), ReviewState.VALIDATED),
        (date(2024, 1, 20), ReviewState.UNREVIEWED),
        (date(2024, 3, 3), ReviewState.VALIDATED),
        (date(2024, 3, 4), ReviewState.REJECTED),
        (date(2023, 12, 31), ReviewState.VALIDATED),
    ]:
        db.session.add(
            Report(
                establishment_id=establishment.id,
                visit_date=visit,
                submitted_at=local(2024, 1, 1),
                review_state=state,
                description=MARKERS[0],
            )
        )
    db.session.commit()
    return establishment


@BOTH
@freeze_time("2025-01-10 12:00:00")
def test_the_report_from_the_database(year: Establishment) -> None:
    report = yr.year_report(db.session, YEAR, public=True, zone=BRUSSELS)
    mine = next(e for e in report.establishments if e.establishment.id == year.id)
    assert mine.days == pytest.approx(EXPECTED)
    assert mine.changes == 4
    assert mine.red == pytest.approx(31)
    assert mine.no_data == 0
    ranking = {
        c.condition.code: (c.count, c.median_days, c.longest_days)
        for rows in report.conditions.values()
        for c in rows
    }
    assert ranking["SEC-01"] == pytest.approx((2, 8, 10))
    assert ranking["SEC-03"] == pytest.approx((1, 16, 16))  # open: up to the period's end
    assert ranking["ACC-01"] == pytest.approx((1, 5, 5))
    assert list(report.conditions) == ["ACC", "SEC"]  # categories in the référentiel's order
    assert [c.condition.code for c in report.conditions["SEC"]] == ["SEC-01", "SEC-03"]
    assert report.reports_per_month[date(2024, 1, 1)] == 2
    assert report.reports_per_month[date(2024, 3, 1)] == 1  # the rejected one is not counted
    assert sum(report.reports_per_month.values()) == 3
    assert len(report.reports_per_month) == 12
    causes = {c.cause: (c.count, c.median_days) for c in report.causes}
    # resolved: 6 days and 32 days (1 Dec 2023 13:00 to 2 Jan 2024 13:00): median 19.
    assert causes["resolved"] == pytest.approx((2, 19))
    assert causes["expired"] == pytest.approx((1, 10))
    assert causes["withdrawn"] == pytest.approx((1, 1))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


@freeze_time("2025-01-10 12:00:00")
def test_pages_and_api(client: FlaskClient, year: Establishment, coordinator: Any) -> None:
    from tests.conftest import make_user

    author = make_user(service=MARKERS[2])
    author.name = MARKERS[1]
    for row in db.session.scalars(select(Report).where(Report.establishment_id == year.id)):
        row.author_id = author.id
        row.service_id = author.service_id
    db.session.commit()
    public = client.get("/rapport/public?du=2024-01-01&au=2024-12-31")
    assert public.status_code == 200
    page = public.get_data(as_text=True)
    assert "Prison de l&#39;Année" in page or "Prison de l'Année" in page
    for marker in MARKERS:
        assert marker not in page
    assert client.get("/rapport").status_code in (302, 401, 403)
    api = client.get("/api/v1/report?from=2024-01-01&to=2024-12-31")
    assert api.status_code == 200
    body = api.get_json()
    mine = next(e for e in body["establishments"] if e["slug"] == "annee")
    assert mine["days"] == {
        "vert": 65.5,
        "orange_1": 210,
        "orange_2": 59,
        "orange_3": 0.5,
        "orange_4": 0,
        "orange_5": 0,
        "rouge": 31,
    }
    for marker in MARKERS:
        assert marker not in api.get_data(as_text=True)
    assert client.get("/api/v1/report?from=2024-13-01").status_code == 400
    year.active = False
    db.session.commit()
    hidden = client.get("/rapport/public?du=2024-01-01&au=2024-12-31").get_data(as_text=True)
    assert "Ann" not in hidden  # the public report shows active prisons only
    login(client, coordinator)
    committee = client.get("/rapport?du=2024-01-01&au=2024-12-31")
    assert committee.status_code == 200
    html = committee.get_data(as_text=True)
    section = html.split(f'id="etablissement-{year.id}"')[1].split("</section>")[0]
    cells = re.findall(r"<td>([^<]*)</td>", section)
    # Sans données, then vert, orange 1 … 5, rouge: the prison, then its three offer types.
    assert cells[0::4] == ["0", "66", "210", "59", "1", "0", "0", "31"]
    assert 'class="console-nav"' in html
    bad = client.get("/rapport?du=2024-12-31&au=2024-01-01")
    assert bad.status_code == 422
    assert "précède" in bad.get_data(as_text=True)
    csv = client.get("/rapport/tableaux.csv?du=2024-01-01&au=2024-12-31")
    assert csv.status_code == 200
    assert "Prison de l'Année;0;66;210;59;1;0;0;31;4" in csv.get_data(as_text=True)
    xlsx = client.get("/rapport/tableaux.xlsx?du=2024-01-01&au=2024-12-31")
    assert xlsx.status_code == 200
    assert xlsx.data[:2] == b"PK"


@freeze_time("2025-01-10 12:00:00")
def test_a_period_still_to_come_has_no_days(client: FlaskClient, year: Establishment) -> None:
    response = client.get("/rapport/public?du=2025-06-01&au=2025-06-30")
    assert response.status_code == 200
    body = client.get("/api/v1/report?from=2025-06-01&to=2025-06-30").get_json()
    mine = next(e for e in body["establishments"] if e["slug"] == "annee")
    assert mine["no_data_days"] == 0 and set(mine["days"].values()) == {0}


def test_the_codes_page_links_the_public_report(client: FlaskClient) -> None:
    assert "/rapport/public" in client.get("/codes").get_data(as_text=True)


@freeze_time("2025-01-10 12:00:00")
def test_the_report_prints_as_a_pdf_a_page_an_establishment(
    client: FlaskClient, year: Establishment, coordinator: Any
) -> None:
    """The PDF is the page as it prints (WeasyPrint): its text read back names the
    establishment and the same figures; the public PDF carries no marker."""
    import io

    from pypdf import PdfReader

    public = client.get("/rapport/public.pdf?du=2024-01-01&au=2024-12-31")
    assert public.status_code == 200 and public.mimetype == "application/pdf"
    assert 'filename="bilan-2024-01-01-2024-12-31.pdf"' in public.headers["Content-Disposition"]
    pages = PdfReader(io.BytesIO(public.data)).pages
    text = "\n".join(p.extract_text() for p in pages)
    assert "Bilan du baromètre" in text and "Prison de l'Année" in text
    for marker in MARKERS:
        assert marker not in text
    named = [i for i, p in enumerate(pages) if "Prison de l'Année" in p.extract_text()]
    assert named and all(i > 0 for i in named)  # its own page, after the overview
    # The page's figures: 66 days green, 210 at orange 1, 59 at orange 2, 31 in red.
    own = "\n".join(pages[i].extract_text() for i in named)
    assert re.search(r"\b66\b.*\b210\b.*\b59\b.*\b31\b", own, re.S), own
    login(client, coordinator)
    committee = client.get("/rapport.pdf?du=2024-01-01&au=2024-12-31")
    assert committee.status_code == 200 and committee.data.startswith(b"%PDF")
    assert client.get("/rapport.pdf?du=2024-12-31&au=2024-01-01").status_code == 422


@BOTH
@pytest.mark.usefixtures("frozen")
def test_the_report_of_the_imported_2025_tells_its_level_history(client: FlaskClient) -> None:
    """On the committee's 2025 history, imported (tests/data), the report's days at each
    level are those of its level changes, measured here in hours (the two clock changes
    of 2025 make at most an hour apart a level), and fill the time since the first record."""
    from tests.test_history_import import full_import

    assert full_import().exit_code == 0
    body = client.get("/api/v1/report?from=2025-01-01&to=2025-12-31").get_json()
    now = datetime(2025, 11, 28, 10)  # the import tests' frozen "now" (UTC)
    for row in body["establishments"]:
        establishment = db.session.scalar(
            select(Establishment).where(Establishment.slug == row["slug"])
        )
        assert establishment is not None
        changes = db.session.scalars(
            select(LevelChange)
            .where(LevelChange.establishment_id == establishment.id)
            .order_by(LevelChange.at, LevelChange.id)
        ).all()
        hours: dict[str, float] = {}
        ends = [c.at for c in changes[1:]] + [now]
        for change, end in zip(changes, ends, strict=True):
            key = "vert" if change.to_colour == "vert" else "rouge"
            if change.to_colour == "orange":
                key = f"orange_{change.to_step}"
            hours[key] = hours.get(key, 0) + (end - change.at).total_seconds() / 3600
        assert changes, row["slug"]
        for key, days in row["days"].items():
            assert days == pytest.approx(hours.get(key, 0) / 24, abs=1 / 24 + 0.002), (
                row["slug"],
                key,
            )
