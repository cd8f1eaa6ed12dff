"""The history import (issue 15): Fidex's 2025 records, replayed through the live rules.

The files in tests/data are what a committee keeps: 61 reports (103 rows, one per
condition) for Haren and Saint-Gilles from 6 January 2025, written `;` with a
BOM and DD/MM/YYYY dates, and 7 resolutions written `,` without BOM and with
ISO dates. "Now" is frozen on 28 November 2025.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import func, select

from alerts.models import AlertEvent, AlertGroup, Notification
from barometre import clock, history_files, services, signals
from barometre.console import import_jobs
from barometre.extensions import db
from barometre.history_import import Totals, summary_lines
from barometre.levels import Level, compute_level
from barometre.models import (
    AuditEntry,
    Establishment,
    LevelChange,
    MemberService,
    Report,
    Situation,
    User,
)
from tests.conftest import file_report, login

DATA = Path(__file__).parent / "data"
REPORTS = DATA / "history_reports.csv"
RESOLUTIONS = DATA / "history_resolutions.csv"
NOW = "2025-11-28 10:00:00"
TODAY = date(2025, 11, 28)
NAMES = {"Prison de Haren": "haren", "Prison de Saint-Gilles": "saint-gilles"}


@pytest.fixture
def frozen(app: Flask) -> Iterator[None]:
    db.session.add(MemberService(name="Service d'aide aux justiciables"))
    db.session.commit()
    with freeze_time(NOW):
        yield


def run(*args: str) -> Result:
    return current_app.test_cli_runner().invoke(args=["import", "history", *args])


def full_import(*extra: str) -> Result:
    return run(str(REPORTS), "--resolutions", str(RESOLUTIONS), *extra)


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def stored() -> dict[str, int]:
    return {
        m.__tablename__: count(m)
        for m in (Report, Situation, LevelChange, AuditEntry, Notification, AlertEvent, AlertGroup)
    }


def levels() -> dict[str, tuple[str, int, tuple[str, ...]]]:
    db.session.expire_all()
    rows = db.session.scalars(select(Establishment))
    return {e.slug: (e.colour, e.step, e.level.offer_types) for e in rows}


def written(rows: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def outbox() -> list[Path]:
    folder = current_app.config["SETTINGS"].outbox_path
    return sorted(folder.glob("*.eml")) if folder.exists() else []


# --- an independent model of the rules, over the files themselves -------------------------


def read(path: Path, delimiter: str) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def day_of(value: str) -> date:
    if "/" in value:
        return datetime.strptime(value, "%d/%m/%Y").date()
    return date.fromisoformat(value)


# (prison, condition, first visit, last confirmation, state, closing date or None)
Lifetime = tuple[str, str, date, date, str, date | None]


def expected_history(
    per_condition_types: bool, ttl: int = 30
) -> tuple[dict[str, Level], list[Lifetime]]:
    """R2, R3, resolutions and R4 by hand: situations per (prison, condition), expiring
    the day after `ttl` days without confirmation. `per_condition_types`: each row's
    own offer types, else the report's (the union of its rows'). Returns the levels
    today and the life of every situation."""
    reports: dict[str, list[dict[str, str]]] = {}
    for row in read(REPORTS, ";"):
        reports.setdefault(row["reference"], []).append(row)
    events: list[tuple[date, int, Any]] = [
        (day_of(rows[0]["visit_date"]), 0, rows) for rows in reports.values()
    ]
    events += [(day_of(r["resolved_on"]), 1, r) for r in read(RESOLUTIONS, ",")]
    situations: dict[tuple[str, str], tuple[date, date, set[str]]] = {}
    lives: list[Lifetime] = []

    def close(key: tuple[str, str], state: str, on: date) -> None:
        first, last, _types = situations.pop(key)
        lives.append((*key, first, last, state, on))

    def expire(day: date) -> None:
        for key, (_first, last, _types) in list(situations.items()):
            if last + timedelta(days=ttl) < day:
                close(key, "expired", last + timedelta(days=ttl + 1))

    for day, kind, payload in sorted(events, key=lambda e: (e[0], e[1])):
        expire(day)
        if kind == 1:
            slug = NAMES.get(payload["establishment"], payload["establishment"])
            close((slug, payload["condition"]), "resolved", day)
            continue
        union = {t for row in payload for t in row["offer_types"].split("+")}
        for row in payload:
            key = (NAMES.get(row["establishment"], row["establishment"]), row["condition"])
            types = set(row["offer_types"].split("+")) if per_condition_types else union
            first, last, known = situations.get(key, (day, day, set()))
            situations[key] = (first, max(last, day), known | types)
    expire(TODAY)
    lives += [(*key, first, last, "open", None) for key, (first, last, _t) in situations.items()]
    levels = {
        slug: compute_level(types for (s, _c), (_f, _l, types) in situations.items() if s == slug)
        for slug in ("haren", "saint-gilles")
    }
    return levels, sorted(lives)


def expected_levels(per_condition_types: bool, ttl: int = 30) -> dict[str, Level]:
    return expected_history(per_condition_types, ttl)[0]


def lifetimes() -> list[Lifetime]:
    """The same, from the database."""
    return sorted(
        (
            s.establishment.slug,
            s.condition.code,
            s.first_visit,
            s.last_confirmed,
            s.status,
            clock.local_day(s.closed_at) if s.closed_at else None,
        )
        for s in db.session.scalars(select(Situation))
    )


def as_tuple(level: Level) -> tuple[str, int, tuple[str, ...]]:
    return (level.colour, level.step, level.offer_types)


@pytest.mark.parametrize(
    "settings_overrides", [{"situation_ttl_days": 45, "reports_require_review": True}]
)
def test_the_replay_follows_the_settings(frozen: None, settings_overrides: Any) -> None:
    """Another TTL, and review required: imported reports come validated and count."""
    assert full_import().exit_code == 0
    levels_today, lives = expected_history(False, ttl=45)
    assert lifetimes() == lives
    assert lives != expected_history(False, ttl=30)[1]
    assert levels() == {k: as_tuple(v) for k, v in levels_today.items()}


def test_the_expected_levels_do_not_depend_on_where_offer_types_are_carried() -> None:
    union, per_condition = expected_levels(False), expected_levels(True)
    assert {k: as_tuple(v) for k, v in union.items()} == {
        k: as_tuple(v) for k, v in per_condition.items()
    }
    assert as_tuple(union["haren"]) == ("orange", 2, ("individuel", "collectif"))
    assert union["saint-gilles"].colour == "rouge"


# --- acceptance ---------------------------------------------------------------------------


def test_dry_run_prints_what_it_would_do_and_stores_nothing(frozen: None) -> None:
    before = stored()
    result = full_import("--dry-run")
    assert result.exit_code == 0, result.output
    assert stored() == before
    assert levels()["haren"] == ("vert", 0, ())
    assert "Lignes lues\xa0: 103 signalements\xa0; 7 résolutions." in result.output
    assert (
        "Nouveaux\xa0: 61 signalements, 7 résolutions\xa0; 0 déjà importé, ignoré." in result.output
    )
    assert "Situations\xa0:" in result.output
    assert "Prison de Haren\xa0: Code orange 2 sur 5" in result.output
    assert "Prison de Saint-Gilles\xa0: Code rouge" in result.output
    assert "Simulation\xa0: rien n'a été enregistré." in result.output


def test_the_import_replays_the_history_through_the_rules(frozen: None) -> None:
    result = full_import()
    assert result.exit_code == 0, result.output
    expected = {k: as_tuple(v) for k, v in expected_levels(False).items()}
    assert levels() == expected
    assert levels()["haren"] == ("orange", 2, ("individuel", "collectif"))
    assert levels()["saint-gilles"][0] == "rouge"

    # Every report, validated, dated by its visit; the service named in the file.
    assert count(Report) == 61
    reports = db.session.scalars(select(Report)).all()
    assert {r.review_state for r in reports} == {"validated"}
    assert all(r.import_reference and r.submitted_at.date() == r.visit_date for r in reports)
    assert sum(1 for r in reports if r.service is not None) == 12

    # A history per prison whose first change is in January 2025, in order, cause "import".
    changes = db.session.scalars(select(LevelChange).order_by(LevelChange.id)).all()
    assert {c.cause for c in changes} == {"import"}
    for slug in ("haren", "saint-gilles"):
        own = [c for c in changes if c.establishment.slug == slug]
        assert own[0].at.strftime("%Y-%m") == "2025-01"
        assert [c.at for c in own] == sorted(c.at for c in own)
        assert own[-1].at.date() <= TODAY
    # Haren had no visit in July and August: everything expired, back to green.
    haren = [c for c in changes if c.establishment.slug == "haren"]
    summer = [c for c in haren if date(2025, 7, 1) <= c.at.date() <= date(2025, 8, 31)]
    assert summer[-1].to_colour == "vert"

    # Situations: resolved by the file's lines, expired at their own dates, the rest open.
    assert lifetimes() == expected_history(False)[1]
    situations = db.session.scalars(select(Situation)).all()
    resolved = [s for s in situations if s.status == "resolved"]
    assert len(resolved) == 7 and all(s.closed_by_import for s in resolved)
    assert {s.closed_at.date() for s in resolved if s.condition.code == "OFF-06"} == {
        date(2025, 2, 20)
    }
    expired = [s for s in situations if s.status == "expired"]
    assert len(expired) > 10
    assert all(s.closed_at.date() > s.last_confirmed + timedelta(days=29) for s in expired)

    # Nobody is alerted: no event, no notification, nothing in the outbox.
    assert count(AlertEvent) == count(AlertGroup) == count(Notification) == 0
    assert outbox() == []
    # The levels are what the rules give today: the reconciler finds nothing to expire.
    assert services.expire_all(db.session, current_app.config["SETTINGS"]) == []

    entry = db.session.scalars(select(AuditEntry)).one()
    assert entry.action == "history.import" and entry.actor_id is None
    assert entry.detail["reports"] == 61 and entry.detail["resolutions"] == 7


def test_importing_the_same_files_again_changes_nothing(frozen: None) -> None:
    assert full_import().exit_code == 0
    first, first_levels = stored(), levels()
    again = full_import()
    assert again.exit_code == 0, again.output
    assert (
        "Nouveaux\xa0: 0 signalement, 0 résolution\xa0; 68 déjà importés, ignorés." in again.output
    )
    first["audit_entry"] += 1  # the second run is audit-logged, and that is all
    assert stored() == first
    assert levels() == first_levels


def test_one_bad_line_among_sixty_stores_nothing_and_names_the_line(
    frozen: None, tmp_path: Path
) -> None:
    rows = list(csv.reader(io.StringIO(REPORTS.read_text(encoding="utf-8-sig"), newline=""),
                           delimiter=";"))  # fmt: skip
    index = 95  # the 95th row of 103, past the description that runs over two lines
    assert any("\n" in cell for row in rows[:index] for cell in row)
    rows[index][2] = "31/02/2025"
    bad = tmp_path / "reports.csv"
    bad.write_bytes(written(rows).encode("utf-8-sig"))
    file_line = written(rows[:index]).count("\n") + 1
    assert file_line == index + 2  # the header is line 1, the description took two
    before = stored()
    result = run(str(bad), "--resolutions", str(RESOLUTIONS))
    assert result.exit_code != 0
    assert stored() == before
    assert f"Signalements, ligne {file_line}, colonne «\xa0visit_date\xa0»\xa0: date invalide" in (
        result.output
    )
    assert "Import refusé\xa0: aucune donnée n'a été enregistrée." in result.output


def test_every_bad_line_is_reported_at_once(frozen: None, tmp_path: Path) -> None:
    reports = tmp_path / "r.csv"
    reports.write_text(
        "reference,establishment,visit_date,condition,offer_types,service,description,"
        "minutes_waited,activity_cancelled,detainees_not_seen\n"
        "A1,haren,2025-03-01,SEC-01,individuel,,,,,\n"
        "A2,Lantin,2025-03-02,SEC-01,individuel,,,,,\n"
        "A3,haren,2025-13-02,SEC-01,individuel,,,,,\n"
        "A4,haren,2025-03-04,XXX-99,individuel,,,,,\n"
        "A5,haren,2025-03-05,SEC-02,individuel+aérien,,,,,\n"
        "A6,haren,2025-03-06,SEC-03,collectif,Inconnu,,beaucoup,peut-être,\n"
        "A1,saint-gilles,2025-03-01,SEC-02,individuel,,,,,\n"
        f"A7,haren,{(TODAY + timedelta(days=1)).isoformat()},SEC-01,individuel,,,,,\n"
        'A8,haren,2025-03-08,SEC-01,individuel,,"' + "x" * 2001 + '",,,\n'
        "A9,haren,2025-03-09,SEC-01,individuel,,,²,,\n"
        f"{'R' * 65},haren,2025-03-10,SEC-01,individuel,,,,,\n",
        encoding="utf-8",
    )
    resolutions = tmp_path / "s.csv"
    resolutions.write_text(
        "establishment;condition;resolved_on;note\nharen;SEC-01;2025-03-09;\n", encoding="utf-8"
    )
    result = run(str(reports), "--resolutions", str(resolutions))
    assert result.exit_code != 0
    expected = [
        "Signalements, ligne 3, colonne «\xa0establishment\xa0»\xa0: établissement "
        "inconnu\xa0: «\xa0Lantin\xa0».",
        "Signalements, ligne 4, colonne «\xa0visit_date\xa0»\xa0: date invalide "
        "«\xa02025-13-02\xa0»",
        "Signalements, ligne 5, colonne «\xa0condition\xa0»\xa0: condition inconnue\xa0: "
        "«\xa0XXX-99\xa0».",
        "Signalements, ligne 6, colonne «\xa0offer_types\xa0»\xa0: type d'offre inconnu\xa0: "
        "«\xa0aérien\xa0»",
        "Signalements, ligne 7, colonne «\xa0service\xa0»\xa0: service membre inconnu\xa0: "
        "«\xa0Inconnu\xa0»",
        "Signalements, ligne 7, colonne «\xa0minutes_waited\xa0»\xa0: nombre entier attendu.",
        "Signalements, ligne 7, colonne «\xa0activity_cancelled\xa0»\xa0: oui ou non attendu.",
        "Signalements, ligne 8, colonne «\xa0establishment\xa0»\xa0: autre établissement que "
        "la ligne 2",
        "Signalements, ligne 9, colonne «\xa0visit_date\xa0»\xa0: date dans le futur",
        "Signalements, ligne 10, colonne «\xa0description\xa0»\xa0: La description ne peut "
        "dépasser",
        "Signalements, ligne 11, colonne «\xa0minutes_waited\xa0»\xa0: nombre entier attendu.",
        "Signalements, ligne 12, colonne «\xa0reference\xa0»\xa0: 64 caractères au maximum.",
        "Résolutions, ligne 2, colonne «\xa0note\xa0»\xa0: valeur obligatoire.",
    ]
    for message in expected:
        assert message in result.output
    assert count(Report) == 0


def test_records_from_an_establishments_first_live_record_on_are_refused(
    frozen: None, worker: Any
) -> None:
    """Issue 27: history may come in after live reports began, but only up to each
    establishment's first live record: Haren's rows from its live visit (14 June) on are
    refused, one line each; Saint-Gilles has no live record, so none of its rows is."""
    with freeze_time("2025-06-15 09:00:00"):
        file_report(worker, days_ago=1)  # Haren's first live report: a visit on 14 June 2025
    before = stored()
    result = full_import()
    assert result.exit_code != 0
    assert stored() == before
    refused = "ne précède pas le premier enregistrement en direct de cet établissement"
    later = [
        r
        for r in read(REPORTS, ";")
        if "aren" in r["establishment"] and day_of(r["visit_date"]) >= date(2025, 6, 14)
    ]
    later_resolutions = [
        r
        for r in read(RESOLUTIONS, ",")
        if "aren" in r["establishment"] and day_of(r["resolved_on"]) >= date(2025, 6, 14)
    ]
    assert later and later_resolutions
    assert result.output.count(refused) == len(later) + len(later_resolutions)
    assert "(14/06/2025)\xa0: l'historique importé s'arrête avant." in result.output


def test_an_import_in_two_steps_ends_as_the_import_in_one(frozen: None, tmp_path: Path) -> None:
    """On 31 October the committee imports what it has; on 28 November the full file:
    only November is new, and the end is what one import of everything gives."""
    text = REPORTS.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    until_october = [rows[0]] + [r for r in rows[1:] if day_of(r[2]) <= date(2025, 10, 31)]
    first = tmp_path / "until-october.csv"
    first.write_bytes(written(until_october).encode("utf-8-sig"))
    with freeze_time("2025-10-31 17:00:00"):
        assert run(str(first), "--resolutions", str(RESOLUTIONS)).exit_code == 0
    before = db.session.execute(
        select(LevelChange.id, LevelChange.at).order_by(LevelChange.id)
    ).all()
    result = full_import()
    assert result.exit_code == 0, result.output
    november = {r[0] for r in rows[1:] if day_of(r[2]) > date(2025, 10, 31)}
    assert f"Nouveaux\xa0: {len(november)} signalements, 0 résolution\xa0;" in result.output
    assert levels() == {k: as_tuple(v) for k, v in expected_levels(False).items()}
    after = db.session.execute(
        select(LevelChange.id, LevelChange.at).order_by(LevelChange.id)
    ).all()
    assert after[: len(before)] == before  # history kept as it was, and only added to


def test_a_resolution_of_nothing_open_is_refused(frozen: None, tmp_path: Path) -> None:
    resolutions = tmp_path / "s.csv"
    resolutions.write_text(
        "establishment;condition;resolved_on;note\nharen;OFF-08;01/03/2025;Réglé\n",
        encoding="utf-8",
    )
    result = run(str(REPORTS), "--resolutions", str(resolutions))
    assert result.exit_code != 0
    assert (
        "Résolutions, ligne 2, colonne «\xa0condition\xa0»\xa0: aucune situation ouverte pour "
        "OFF-08 "
        "à cette date (01/03/2025)\xa0: rien à résoudre."
    ) in result.output
    assert count(Report) == count(LevelChange) == 0


def test_spreadsheet_encodings(frozen: None, tmp_path: Path) -> None:
    header = "establishment;condition;resolved_on;note\r\n"
    latin = tmp_path / "latin.csv"
    latin.write_bytes((header + "haren;SEC-01;2025-03-09;Réglé\r\n").encode("latin-1"))
    result = run(str(REPORTS), "--resolutions", str(latin))
    assert "Résolutions, ligne 2\xa0: le fichier n'est pas en UTF-8" in result.output
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("etablissement;date\r\nharen;2025-01-01\r\n", encoding="utf-8")
    result = run(str(wrong))
    assert (  # the header's language: "etablissement" is French
        "Signalements, ligne 1\xa0: en-tête attendu\xa0: référence;établissement;" in result.output
    )
    assert count(Report) == 0


def test_visit_dates_of_any_age_only_through_the_import(frozen: None, worker: Any) -> None:
    """The live rule (90 days) still holds once the import has run: the clock is back."""
    assert full_import().exit_code == 0
    with pytest.raises(services.ValidationFailed) as refused:
        file_report(worker, days_ago=91)
    assert "visit_date" in refused.value.errors
    assert file_report(worker, days_ago=1).report is not None


def test_the_template_files_are_accepted_as_they_are(frozen: None, tmp_path: Path) -> None:
    reports = tmp_path / "r.csv"
    reports.write_bytes(history_files.template(history_files.REPORTS))
    resolutions = tmp_path / "s.csv"
    resolutions.write_bytes(history_files.template(history_files.RESOLUTIONS))
    result = run(str(reports), "--resolutions", str(resolutions), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Nouveaux\xa0: 1 signalement, 1 résolution\xa0;" in result.output


# --- the console page -----------------------------------------------------------------------


def upload(client: FlaskClient, reports: bytes, resolutions: bytes | None, **form: Any) -> Any:
    data: dict[str, Any] = {"reports": (io.BytesIO(reports), "signalements.csv"), **form}
    if resolutions is not None:
        data["resolutions"] = (io.BytesIO(resolutions), "resolutions.csv")
    return client.post("/coordination/import", data=data, content_type="multipart/form-data")


def page_text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_the_console_page_is_for_coordinators(
    frozen: None, client: FlaskClient, worker: User, coordinator: User
) -> None:
    assert client.get("/coordination/import").status_code in (302, 401)
    login(client, worker)
    assert client.get("/coordination/import").status_code == 403
    assert upload(client, REPORTS.read_bytes(), None).status_code == 403
    assert count(Report) == 0
    login(client, coordinator)
    page = page_text(client.get("/coordination/import"))
    assert "Import de l'historique" in page
    assert "reference;establishment;visit_date;condition;offer_types;service" in page
    template = client.get("/coordination/import/modele-signalements.csv")
    assert template.status_code == 200
    assert template.headers["Content-Disposition"] == "attachment; filename=modele-signalements.csv"
    assert template.data.startswith("\ufeffreference;establishment;".encode())
    resolutions = client.get("/coordination/import/modele-resolutions.csv")
    assert resolutions.data.startswith("\ufeffestablishment;condition;resolved_on;note".encode())
    assert client.get("/coordination/import/autre.csv").status_code == 404


@pytest.fixture
def held() -> Iterator[list[int]]:
    """Import jobs are recorded, then run by `run_held` in the test's own thread."""
    started: list[int] = []

    def take(_app: Flask, task: str, job_id: int) -> bool:
        started.append(job_id)
        return True

    with signals.job_asked.connected_to(take):
        yield started


def run_held(client: FlaskClient, held: list[int], *args: Any, **form: Any) -> str:
    response = upload(client, *args, **form)
    assert response.status_code == 303
    import_jobs.run_import(held[-1])
    return page_text(client.get(response.headers["Location"]))


def test_the_console_upload_dry_run_then_import(
    frozen: None, client: FlaskClient, coordinator: User, held: list[int]
) -> None:
    login(client, coordinator)
    before = stored()
    dry = run_held(client, held, REPORTS.read_bytes(), RESOLUTIONS.read_bytes(), dry_run="y")
    assert "Prison de Saint-Gilles\xa0: Code rouge" in dry
    assert "Simulation\xa0: rien n'a été enregistré." in dry
    assert stored() == before

    shown = run_held(client, held, REPORTS.read_bytes(), RESOLUTIONS.read_bytes())
    assert "Importé" in shown
    assert "Prison de Haren\xa0: Code orange 2 sur 5" in shown
    assert levels() == {k: as_tuple(v) for k, v in expected_levels(False).items()}
    assert count(Notification) == count(AlertEvent) == 0 and outbox() == []
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor_id) == ("history.import", coordinator.id)
    journal = page_text(client.get("/coordination/journal"))
    assert "Historique du comité importé" in journal
    imported = db.session.scalars(select(Report).where(Report.import_reference == "FDX-2025-001"))
    report_page = page_text(client.get(f"/coordination/signalements/{imported.one().id}"))
    assert "Historique du comité, importé (référence FDX-2025-001)" in report_page
    # The establishment's public history names the cause.
    assert "Import de l'historique du comité" in page_text(client.get("/etablissements/haren"))


def test_a_bad_file_shows_its_errors_in_french_and_stores_nothing(
    frozen: None, client: FlaskClient, coordinator: User, held: list[int]
) -> None:
    login(client, coordinator)
    text = REPORTS.read_text(encoding="utf-8-sig").replace(";SEC-01;", ";SEC-1;", 1)
    before = stored()
    shown = run_held(client, held, text.encode("utf-8-sig"), RESOLUTIONS.read_bytes())
    assert "Import refusé\xa0: aucune donnée n'a été enregistrée." in shown
    assert (
        "Signalements, ligne 2, colonne «\xa0condition\xa0»\xa0: condition inconnue\xa0: "
        "«\xa0SEC-1\xa0»." in shown
    )
    assert stored() == before
    missing = client.post("/coordination/import", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422
    assert "Choisissez le fichier des signalements." in page_text(missing)


def test_the_upload_needs_the_csrf_token(
    frozen: None, app: Flask, client: FlaskClient, coordinator: User
) -> None:
    login(client, coordinator)
    app.config["WTF_CSRF_ENABLED"] = True
    response = upload(client, REPORTS.read_bytes(), None)
    assert response.status_code == 400
    assert count(Report) == 0


def test_the_replay_clock_is_brussels_time_and_scoped() -> None:
    assert clock.local_moment(date(2025, 1, 6), 12) == datetime(2025, 1, 6, 11, 0)
    assert clock.local_moment(date(2025, 7, 1), 12) == datetime(2025, 7, 1, 10, 0)
    with freeze_time("2025-11-28 23:30:00"):  # already 29 November in Brussels
        assert clock.today() == date(2025, 11, 29)
        with clock.replaying(datetime(2025, 1, 5, 23, 0)):
            assert clock.now() == datetime(2025, 1, 5, 23, 0)
            assert clock.today() == date(2025, 1, 6)
        assert clock.now() == datetime(2025, 11, 28, 23, 30)


def test_each_row_carries_its_own_offer_types(frozen: None, tmp_path: Path) -> None:
    """R1: one row is one condition with the offer types it impacted, not the report's union."""
    reports = tmp_path / "r.csv"
    reports.write_text(
        "reference;establishment;visit_date;condition;offer_types;service;description;"
        "minutes_waited;activity_cancelled;detainees_not_seen\n"
        "P1;haren;2025-11-20;SEC-01;individuel;;;;;\n"
        "P1;haren;2025-11-20;OFF-06;collectif+cellulaire;;;;;\n",
        encoding="utf-8",
    )
    assert run(str(reports)).exit_code == 0
    types = {s.condition.code: s.offer_types for s in db.session.scalars(select(Situation))}
    assert types == {"SEC-01": "individuel", "OFF-06": "collectif,cellulaire"}


def test_the_replay_reads_each_establishment_only_when_a_record_touched_it(
    app: Flask, tmp_path: Path
) -> None:
    """35 prisons: the replay once read every prison's open situations for every record
    (statements grew as records x prisons; 10 000 lines did not finish in 30 s)."""
    from sqlalchemy import event

    from barometre import history_import
    from tests.history_samples import reports_file

    slugs = ["haren", "saint-gilles"] + [f"prison-{n}" for n in range(33)]
    for slug in slugs[2:]:
        db.session.add(Establishment(slug=slug, name=f"Prison {slug}"))
    db.session.commit()
    content = reports_file(600, slugs, date(2021, 1, 1), date(2025, 10, 1))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with freeze_time(NOW):
            summary = history_import.import_history(
                db.session, content, None, None, current_app.config["SETTINGS"], True
            )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        db.session.rollback()
    assert summary.reports > 300
    # A report is about ten statements (locate, write, level changes, expiry) whatever
    # the number of prisons; reading every prison for each record was 40 and more.
    assert len(statements) < 16 * summary.reports, len(statements) / summary.reports


@pytest.mark.parametrize(
    ("totals", "expected"),
    [
        (
            Totals(
                report_rows=1,
                resolution_rows=0,
                reports=1,
                known=2,
                level_changes=1,
                situations={"open": 1},
            ),
            [
                "Lignes lues\xa0: 1 signalement\xa0; 0 résolution.",
                "Nouveaux\xa0: 1 signalement, 0 résolution\xa0; 2 déjà importés, ignorés.",
                "Situations\xa0: 1 ouverte par l'import, dont 0 résolue, 0 expirée, 1 encore "
                "ouverte.",
                "1 changement de niveau.",
            ],
        ),
        (
            Totals(
                report_rows=3,
                resolution_rows=2,
                reports=3,
                resolutions=2,
                known=1,
                situations={"resolved": 2, "expired": 2, "open": 2},
            ),
            [
                "Lignes lues\xa0: 3 signalements\xa0; 2 résolutions.",
                "Nouveaux\xa0: 3 signalements, 2 résolutions\xa0; 1 déjà importé, ignoré.",
                "Situations\xa0: 6 ouvertes par l'import, dont 2 résolues, 2 expirées, "
                "2 encore ouvertes.",
                "0 changement de niveau.",
            ],
        ),
    ],
)
def test_the_summary_says_each_count_in_words(
    app: Flask, totals: Totals, expected: list[str]
) -> None:
    """Every count of the summary (the CLI's and a console job's) singular or plural, no « (s) »."""
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        lines = summary_lines(totals, dry_run=False)
    assert lines == expected
    assert not any("(s)" in line for line in lines)
