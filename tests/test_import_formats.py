"""The history import as a volunteer fills it (issue 27): a workbook with drop-downs,
headers in French, Dutch or English, conditions by their wording, a report's fields
written once, one row per report with its conditions in columns. "Now" is frozen on
28 November 2025, as in tests/test_history_import.py.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask, current_app
from flask.testing import FlaskClient
from freezegun import freeze_time
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from barometre import history_files, history_template, signals
from barometre.console import import_jobs
from barometre.console.models import ImportJob
from barometre.extensions import db
from barometre.models import Condition, Establishment, MemberService, Report, Situation, User
from barometre.referentiel import CONDITIONS
from tests.conftest import login

NOW = "2025-11-28 10:00:00"
FR = {c.code: c.fr for c in CONDITIONS}
NL = {c.code: c.nl for c in CONDITIONS}
EN = {c.code: c.en for c in CONDITIONS}


@pytest.fixture
def frozen(app: Flask) -> Iterator[None]:
    db.session.add(MemberService(name="Service d'aide aux justiciables"))
    db.session.commit()
    with freeze_time(NOW):
        yield


def run(*args: str) -> Result:
    return current_app.test_cli_runner().invoke(args=["import", "history", *args])


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8-sig"))
    return str(path)


def situations() -> dict[tuple[str, str], tuple[str, str]]:
    """(prison, condition) -> (offer types, state) of every situation."""
    db.session.expire_all()
    return {
        (s.establishment.slug, s.condition.code): (s.offer_types, s.status)
        for s in db.session.scalars(select(Situation))
    }


def template_book(lang: str = "fr") -> Any:
    return load_workbook(io.BytesIO(history_template.workbook(db.session, lang)))


def drop_down_values(book: Any, sheet: Any) -> dict[str, list[str]]:
    """Header of each column with a drop-down -> the values of the list it points at."""
    found: dict[str, list[str]] = {}
    for rule in sheet.data_validations.dataValidation:
        assert rule.type == "list"
        match = re.fullmatch(r"'?([^'!]+)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", rule.formula1)
        assert match, rule.formula1  # a range, never an inline list (255 characters in Excel)
        lists, letter, first, _same, last = match.groups()
        values = [c.value for c in book[lists][letter][int(first) - 1 : int(last)]]
        column = str(rule.sqref).split(":")[0].rstrip("0123456789")
        found[sheet[f"{column}1"].value] = values
    return found


# --- the workbook -----------------------------------------------------------------------------


def test_the_template_s_drop_downs_point_at_the_hidden_lists(frozen: None) -> None:
    book = template_book()
    assert book.sheetnames == ["Signalements", "Résolutions", "Exemple", "Listes"]
    assert book["Listes"].sheet_state == "hidden"
    reports = book["Signalements"]
    headers = [c.value for c in reports[1]]
    assert headers[:7] == [
        "référence",
        "établissement",
        "date de visite",
        "condition 1",
        "types d'offre 1",
        "condition 2",
        "types d'offre 2",
    ]
    lists = drop_down_values(book, reports)
    assert lists["établissement"] == ["Prison de Haren", "Prison de Saint-Gilles"]
    assert lists["condition 1"] == lists["condition 3"] == [c.fr for c in CONDITIONS]
    assert lists["types d'offre 2"][:3] == ["Individuel", "Collectif", "Cellulaire"]
    assert "Individuel + Collectif + Cellulaire" in lists["types d'offre 2"]
    assert lists["activité annulée"] == ["oui", "non"]
    assert lists["service"] == ["Service d'aide aux justiciables"]
    assert reports.column_dimensions["D"].width == 60
    resolutions = drop_down_values(book, book["Résolutions"])
    assert set(resolutions) == {"établissement", "condition"}
    # The example sheet is never read: an example left there imports nothing.
    assert book["Exemple"]["A2"].value == "2025-001"
    assert reports.max_row == 1 and book["Résolutions"].max_row == 1


def test_the_template_in_dutch(frozen: None) -> None:
    book = template_book("nl")
    assert book.sheetnames[:2] == ["Meldingen", "Oplossingen"]
    lists = drop_down_values(book, book["Meldingen"])
    assert lists["gevangenis"] == ["Gevangenis van Haren", "Gevangenis van Sint-Gillis"]
    assert lists["voorwaarde 1"] == [c.nl for c in CONDITIONS]
    assert lists["activiteit geannuleerd"] == ["ja", "nee"]


def fill(book: Any, lang: str = "fr") -> None:
    """What a volunteer does: drop-down values and wording only, dates as dates."""
    index = history_files.HEADER_LANGUAGES.index(lang)
    reports = book[history_files.SHEETS["reports"][index]]
    lists = drop_down_values(book, reports)
    names = [c.value for c in reports[1]]
    prison, condition, types, yes = (
        lists[names[1]],
        lists[names[3]],
        lists[names[4]],
        lists[names[names.index(history_files.header_name("reports", "activity_cancelled", lang))]],
    )
    rows: list[dict[int, Any]] = [
        # One report, two conditions in columns, a third on a second row.
        {
            0: "V-1",
            1: prison[0],
            2: date(2025, 11, 20),
            3: condition[0],
            4: types[0],
            5: condition[5],
            6: types[-1],
            11: 30,
            12: yes[0],
        },
        {0: "V-1", 3: condition[9], 4: types[1]},
        {
            0: "V-2",
            1: prison[1],
            2: date(2025, 11, 21),
            3: condition[0],
            4: types[2],
            9: "Service d'aide aux justiciables",
            10: "Attente au guichet.",
        },
    ]
    for row in rows:
        reports.append([row.get(i) for i in range(len(names))])
    resolutions = book[history_files.SHEETS["resolutions"][index]]
    resolutions.append([prison[1], condition[0], date(2025, 11, 25), "Rétabli."])


def test_the_filled_template_imports_without_error(frozen: None, tmp_path: Path) -> None:
    book = template_book()
    fill(book)
    path = tmp_path / "historique.csv"  # the content tells a workbook, not the name
    book.save(path)
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "Nouveaux\xa0: 2 signalements, 1 résolution\xa0;" in result.output
    codes = [c.code for c in CONDITIONS]
    assert situations() == {
        ("haren", codes[0]): ("individuel", "open"),
        ("haren", codes[5]): ("individuel,collectif,cellulaire", "open"),
        ("haren", codes[9]): ("collectif", "open"),
        ("saint-gilles", codes[0]): ("cellulaire", "resolved"),
    }
    first = db.session.scalars(select(Report).where(Report.import_reference == "V-1")).one()
    assert (first.minutes_waited, first.activity_cancelled) == (30, True)


def test_the_dutch_template_filled_in_dutch_imports(frozen: None, tmp_path: Path) -> None:
    book = template_book("nl")
    fill(book, "nl")
    path = tmp_path / "geschiedenis.xlsx"
    book.save(path)
    result = run(str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Nouveaux\xa0: 2 signalements, 1 résolution\xa0;" in result.output


def test_the_console_serves_the_workbook(
    frozen: None, client: FlaskClient, coordinator: User, worker: User
) -> None:
    login(client, worker)
    assert client.get("/coordination/import/modele-historique.xlsx").status_code == 403
    login(client, coordinator)
    page = client.get("/coordination/import").get_data(as_text=True)
    assert "/coordination/import/modele-historique-nl.xlsx" in page
    response = client.get("/coordination/import/modele-historique-en.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames[:2] == ["Reports", "Resolutions"]
    assert book["Reports"]["B1"].value == "prison"


def test_the_console_imports_the_filled_workbook(
    frozen: None, client: FlaskClient, coordinator: User
) -> None:
    """One file holds both tables; the job counts the workbook's rows before reading it."""
    book = template_book()
    fill(book)
    buffer = io.BytesIO()
    book.save(buffer)
    started: list[int] = []

    def take(_app: Flask, task: str, job_id: int) -> bool:
        started.append(job_id)
        return True

    login(client, coordinator)
    with signals.job_asked.connected_to(take):
        data = {"reports": (io.BytesIO(buffer.getvalue()), "historique.xlsx")}
        response = client.post(
            "/coordination/import", data=data, content_type="multipart/form-data"
        )
    assert response.status_code == 303
    job = db.session.get(ImportJob, started[-1])
    assert job is not None and job.total_lines == 4
    import_jobs.run_import(started[-1])
    db.session.expire_all()
    assert job.problems == [] and job.totals
    assert (job.totals["reports"], job.totals["resolutions"]) == (2, 1)


def test_the_cli_writes_the_workbook(frozen: None, tmp_path: Path) -> None:
    path = tmp_path / "modele.xlsx"
    args = ["import", "template", str(path), "--lang", "nl"]
    result = current_app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert load_workbook(path).sheetnames[0] == "Meldingen"


# --- CSV in three languages, one row per condition or per report ------------------------------


def test_french_headers_and_wording_with_the_report_written_once(
    frozen: None, tmp_path: Path
) -> None:
    reports = write(
        tmp_path,
        "r.csv",
        "Référence;Établissement;Date de visite;Condition;Types d'offre;Service;Description;"
        "Minutes d'attente;Activité annulée;Détenus non vus\n"
        f"F-1;prison de haren;20/11/2025;{FR['ACC-01']};Individuel + Collectif;;Porte fermée.;"
        "45;Oui;3\n"
        # The same report: its fields are not written again.
        f"F-1;;;{FR['SEC-01'].upper()};cellulaire;;;;;\n"
        # Wording compared without case, accents or extra spaces.
        f"F-2;Prison de Saint-Gilles;2025-11-21;  {FR['OFF-06'].replace('é', 'e')} ;"
        "collectif;;;;non;\n",
    )
    resolutions = write(
        tmp_path,
        "s.csv",
        "Établissement;Condition;Résolu le;Note\n"
        f"Prison de Haren;{FR['SEC-01']};25/11/2025;Rétabli.\n",
    )
    result = run(reports, "--resolutions", resolutions)
    assert result.exit_code == 0, result.output
    assert situations() == {
        ("haren", "ACC-01"): ("individuel,collectif", "open"),
        ("haren", "SEC-01"): ("cellulaire", "resolved"),
        ("saint-gilles", "OFF-06"): ("collectif", "open"),
    }
    report = db.session.scalars(select(Report).where(Report.import_reference == "F-1")).one()
    assert (report.description, report.minutes_waited, report.detainees_not_seen) == (
        "Porte fermée.",
        45,
        3,
    )


def test_dutch_headers_and_wording(frozen: None, tmp_path: Path) -> None:
    """Optional columns may be left out."""
    reports = write(
        tmp_path,
        "r.csv",
        "Referentie;Gevangenis;Bezoekdatum;Voorwaarde;Soorten aanbod;Activiteit geannuleerd\n"
        f"N-1;Gevangenis van Sint-Gillis;2025-11-20;{NL['SEC-03']};Op cel + Individueel;ja\n",
    )
    result = run(reports)
    assert result.exit_code == 0, result.output
    assert situations() == {("saint-gilles", "SEC-03"): ("individuel,cellulaire", "open")}
    assert db.session.scalars(select(Report)).one().activity_cancelled is True


def test_one_row_per_report_with_its_conditions_in_columns(frozen: None, tmp_path: Path) -> None:
    reports = write(
        tmp_path,
        "r.csv",
        "reference,prison,visit date,condition 1,offer types 1,condition 2,offer types 2,"
        "condition 3,offer types 3,minutes waited\n"
        f'W-1,Haren Prison,2025-11-20,ACC-02,Individual services,"{EN["OFF-01"]}",'
        "In-cell services,,,20\n"
        "W-2,saint-gilles,2025-11-21,SEC-01,collectif,,,ACC-03,individuel,\n"
        # A report with more conditions than columns: a second row, the same reference.
        "W-1,,,SEC-02,collectif,,,,,\n",
    )
    result = run(reports)
    assert result.exit_code == 0, result.output
    assert situations() == {
        ("haren", "ACC-02"): ("individuel", "open"),
        ("haren", "OFF-01"): ("cellulaire", "open"),
        ("haren", "SEC-02"): ("collectif", "open"),
        ("saint-gilles", "SEC-01"): ("collectif", "open"),
        ("saint-gilles", "ACC-03"): ("individuel", "open"),
    }
    assert db.session.scalars(select(Report.minutes_waited).order_by(Report.id)).all() == [20, None]


def test_the_old_technical_headers_still_work(frozen: None, tmp_path: Path) -> None:
    reports = tmp_path / "r.csv"
    reports.write_bytes(history_files.template(history_files.REPORTS))
    assert run(str(reports), "--dry-run").exit_code == 0


# --- errors stay precise ----------------------------------------------------------------------


def test_errors_name_the_line_and_the_column_as_the_header_writes_it(
    frozen: None, tmp_path: Path
) -> None:
    reports = write(
        tmp_path,
        "r.csv",
        "Référence;Établissement;Date de visite;Condition 1;Types d'offre 1;Condition 2;"
        "Types d'offre 2;Activité annulée\n"
        f"E-1;Prison de Haren;20/11/2025;{FR['ACC-01']};individuel;Une condition inventée;"
        "collectif;peut-être\n"
        "E-2;Prison de Lantin;21/11/2025;SEC-01;;;;\n"
        "E-3;;;SEC-01;individuel;;;\n"
        "E-1;;;SEC-02;individuel;;;non\n",
    )
    result = run(reports)
    assert result.exit_code != 0
    for message in (
        "Signalements, ligne 2, colonne «\xa0Condition 2\xa0»\xa0: condition inconnue\xa0: "
        "«\xa0Une condition inventée\xa0».",
        "Signalements, ligne 2, colonne «\xa0Activité annulée\xa0»\xa0: oui ou non attendu.",
        "Signalements, ligne 3, colonne «\xa0Établissement\xa0»\xa0: établissement inconnu\xa0: "
        "«\xa0Prison de Lantin\xa0».",
        "Signalements, ligne 3, colonne «\xa0Types d'offre 1\xa0»\xa0: valeur obligatoire.",
        "Signalements, ligne 4, colonne «\xa0Établissement\xa0»\xa0: valeur obligatoire.",
        "Signalements, ligne 4, colonne «\xa0Date de visite\xa0»\xa0: valeur obligatoire.",
    ):
        assert message in result.output
    # The report's field written on its first row only, the second row leaves it empty:
    # only a different value is wrong.
    assert "ligne 5" not in result.output.replace("ligne 5, colonne «\xa0Activité", "")
    assert db.session.scalar(select(Report.id)) is None


def test_a_different_value_on_a_row_of_the_same_report_is_refused(
    frozen: None, tmp_path: Path
) -> None:
    reports = write(
        tmp_path,
        "r.csv",
        "référence;établissement;date de visite;condition;types d'offre;minutes d'attente\n"
        "D-1;haren;20/11/2025;SEC-01;individuel;\n"
        "D-1;;;SEC-02;individuel;30\n"
        "D-1;;;SEC-03;individuel;40\n",
    )
    result = run(reports)
    assert (
        "Signalements, ligne 4, colonne «\xa0minutes d'attente\xa0»\xa0: valeur différente de "
        "la ligne 3, même référence." in result.output
    )


def test_a_wording_that_names_two_conditions_is_refused(frozen: None, tmp_path: Path) -> None:
    twin = db.session.scalars(select(Condition).where(Condition.code == "ACC-02")).one()
    twin.label_nl = FR["ACC-01"]
    db.session.commit()
    reports = write(
        tmp_path,
        "r.csv",
        "référence;établissement;date de visite;condition;types d'offre\n"
        f"A-1;haren;20/11/2025;{FR['ACC-01']};individuel\n"
        "A-2;haren;20/11/2025;ACC-01;individuel\n",
    )
    result = run(reports)
    assert result.exit_code != 0
    assert (
        f"Signalements, ligne 2, colonne «\xa0condition\xa0»\xa0: intitulé ambigu «\xa0"
        f"{FR['ACC-01']}\xa0»\xa0: il désigne plusieurs conditions (ACC-01, ACC-02)\xa0; "
        "écrivez le code." in result.output
    )
    assert "ligne 3" not in result.output  # the code is never ambiguous


def test_a_name_that_names_two_prisons_is_refused(frozen: None, tmp_path: Path) -> None:
    other = db.session.scalars(select(Establishment).where(Establishment.slug == "saint-gilles"))
    other.one().name_en = "Prison de Haren"
    db.session.commit()
    reports = write(
        tmp_path,
        "r.csv",
        "référence;établissement;date de visite;condition;types d'offre\n"
        "A-1;Prison de Haren;20/11/2025;SEC-01;individuel\n",
    )
    assert (
        "Signalements, ligne 2, colonne «\xa0établissement\xa0»\xa0: nom ambigu «\xa0Prison de "
        "Haren\xa0»\xa0: il désigne plusieurs établissements (haren, saint-gilles)\xa0; écrivez "
        "l'identifiant." in run(reports).output
    )


def test_header_problems(frozen: None, tmp_path: Path) -> None:
    reports = write(
        tmp_path,
        "r.csv",
        "referentie;gevangenis;bezoekdatum;voorwaarde 1;voorwaarde 2;soorten aanbod 2;opmerkingen\n"
        "X;haren;2025-11-20;SEC-01;;;\n",
    )
    result = run(reports)
    assert "Signalements, ligne 1, colonne «\xa0opmerkingen\xa0»\xa0: colonne inconnue." in (
        result.output
    )
    assert "colonnes manquantes\xa0: soorten aanbod 1." in result.output  # said in Dutch
    twice = write(tmp_path, "t.csv", "référence;Référence\nX;X\n")
    assert "colonne «\xa0Référence\xa0»\xa0: colonne en double." in run(twice).output


def test_a_damaged_or_oversized_workbook_is_refused(
    frozen: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "d.xlsx"
    damaged.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    assert "Signalements, ligne 1\xa0: classeur XLSX illisible." in run(str(damaged)).output
    book = Workbook()
    book.active.append(["référence"])
    path = tmp_path / "b.xlsx"
    book.save(path)
    monkeypatch.setattr(history_files, "MAX_UNPACKED_BYTES", 1024)
    assert "classeur trop volumineux une fois décompressé" in run(str(path)).output


def test_a_workbook_s_rows_are_counted_for_the_job_page(frozen: None) -> None:
    book = template_book()
    fill(book)
    buffer = io.BytesIO()
    book.save(buffer)
    assert history_files.data_lines(buffer.getvalue()) == 4  # 3 report rows, 1 resolution
    assert history_files.data_lines(b"a;b\n1;2\n\n3;4\n") == 2
