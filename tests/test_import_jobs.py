"""The history import as a console job (issue 24): the upload answers at once, the job
replays the files in the background, its page shows progress, the outcome or every
bad line, and what it stores is what the CLI stores from the same files.

The files are generated (tests/history_samples.py): HISTORY_IMPORT_LINES lines of
reports (300 by default; `make soak` runs 50 000) over six prisons and four
years, with the resolutions that go with them. The CLI's import runs in a second
database built like the test's, so the two results are compared table by table,
ids included.
"""

from __future__ import annotations

import html
import io
import os
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import func, select

from barometre import clock, create_app, signals
from barometre.console import import_jobs
from barometre.console.import_jobs import TIME_LIMIT
from barometre.console.models import ImportJob
from barometre.extensions import db
from barometre.models import AuditEntry, Establishment, LevelChange, Report, Situation, User
from barometre.seed import seed_referentiel
from tests.alerts.support import wait_until
from tests.conftest import PG_ADMIN_URL, login, make_settings
from tests.history_samples import history_files
from tests.races import race

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits

LINES = int(os.environ.get("HISTORY_IMPORT_LINES", "300"))
SOAK = "HISTORY_IMPORT_LINES" in os.environ
NOW = "2025-11-28 10:00:00"
TODAY = date(2025, 11, 28)
PRISONS = [f"prison-{n}" for n in range(4)]
SLUGS = ["haren", "saint-gilles", *PRISONS]
# What the import writes, compared between the console's job and the CLI.
TABLES = (
    "report",
    "report_condition",
    "report_offer_type",
    "situation",
    "situation_report",
    "level_change",
    "establishment",
)
# Who closed a resolved situation: the coordinator in the console, nobody in the CLI.
WHO = {"closed_by_id"}


def add_prisons() -> None:
    for slug in PRISONS:
        db.session.add(Establishment(slug=slug, name=f"Prison {slug}"))
    db.session.commit()


def sample(lines: int = LINES) -> tuple[bytes, bytes]:
    return history_files(lines, SLUGS, TODAY - timedelta(days=4 * 365), TODAY - timedelta(days=40))


@pytest.fixture
def prisons(app: Flask) -> Iterator[None]:
    add_prisons()
    with freeze_time(NOW):
        yield


@pytest.fixture
def held() -> Iterator[list[tuple[str, int]]]:
    """Jobs are recorded and handed over to nobody: the test runs them itself."""
    started: list[tuple[str, int]] = []

    def take(_app: Flask, task: str, job_id: int) -> bool:
        started.append((task, job_id))
        return True

    with signals.job_asked.connected_to(take):
        yield started


def upload(client: FlaskClient, reports: bytes, resolutions: bytes | None, **form: Any) -> Any:
    data: dict[str, Any] = {"reports": (io.BytesIO(reports), "signalements.csv"), **form}
    if resolutions is not None:
        data["resolutions"] = (io.BytesIO(resolutions), "resolutions.csv")
    return client.post("/coordination/import", data=data, content_type="multipart/form-data")


def text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def job_id(response: Any) -> int:
    assert response.status_code == 303, response.status_code
    return int(response.headers["Location"].rsplit("/", 1)[1])


def job(ident: int) -> ImportJob:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get_one(ImportJob, ident)


def summary_of(page: str) -> list[str]:
    block = page.split('id="import-summary"', 1)[1].split("</ul>", 1)[0]
    return [html.unescape(line) for line in re.findall(r"<li>(.*?)</li>", block)]


def stored() -> dict[str, list[tuple[Any, ...]]]:
    """Every row the import writes, in id order, ids included (who closed left out)."""
    found = {}
    for name in TABLES:
        table = db.metadata.tables[name]
        columns = [c for c in table.columns if c.name not in WHO]
        order = list(table.primary_key.columns)
        found[name] = [tuple(row) for row in db.session.execute(select(*columns).order_by(*order))]
    return found


def counts() -> dict[str, int]:
    return {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Report, Situation, LevelChange, AuditEntry)
    }


@pytest.fixture
def other_app(backend: str, tmp_path: Path) -> Iterator[Flask]:
    """A second database built like the test's: the CLI imports there."""
    url, name = "", ""
    if backend == "postgresql":
        name = f"barometre_cli_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    application = create_app(make_settings(tmp_path / "cli", url))
    with application.app_context():
        db.create_all()
        seed_referentiel(db.session)
        db.session.commit()
        add_prisons()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    if name:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli_import(
    application: Flask, tmp_path: Path, reports: bytes, resolutions: bytes, *extra: str
) -> tuple[list[str], dict[str, list[tuple[Any, ...]]]]:
    """The CLI on the same files in the other database: its summary lines, what it stored."""
    (tmp_path / "r.csv").write_bytes(reports)
    (tmp_path / "s.csv").write_bytes(resolutions)
    with application.app_context():
        arguments = ["import", "history", str(tmp_path / "r.csv")]
        arguments += ["--resolutions", str(tmp_path / "s.csv"), *extra]
        result = application.test_cli_runner().invoke(args=arguments)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stdout.splitlines() if line]
        found = stored()
        db.session.remove()
    return lines, found


def timed_upload(
    client: FlaskClient, reports: bytes, resolutions: bytes | None, **form: Any
) -> Any:
    start = os.times().elapsed  # real time: freezegun stops time.monotonic
    response = upload(client, reports, resolutions, **form)
    elapsed = os.times().elapsed - start
    # `make soak` holds the upload of 50 000 lines to 2 s. In `make test` a busy machine's
    # pause proves nothing: the proof there is that the request replayed nothing.
    if SOAK:
        assert elapsed < 2.0, f"the upload took {elapsed:.2f} s"
    size = len(reports) + len(resolutions or b"")
    print(f"\nupload of {size} bytes: answered in {elapsed:.2f} s")
    return response


def test_the_console_job_stores_what_the_cli_stores(
    prisons: None,
    client: FlaskClient,
    coordinator: User,
    held: list[tuple[str, int]],
    other_app: Flask,
    tmp_path: Path,
) -> None:
    reports, resolutions = sample()
    login(client, coordinator)
    before = counts()
    ident = job_id(timed_upload(client, reports, resolutions))
    assert held == [(import_jobs.RUN_HISTORY_IMPORT, ident)]
    recorded = job(ident)
    lines = LINES + resolutions.count(b"\n") - 1
    assert (recorded.state, recorded.total_lines) == ("pending", lines)
    assert counts() == before  # nothing replayed by the request
    page = text(client.get(f"/coordination/import/{ident}"))
    assert "En attente" in page and f"0 ligne lue sur {recorded.total_lines}" in page

    started = os.times().elapsed
    import_jobs.run_import(ident)
    seconds = os.times().elapsed - started
    done = job(ident)
    assert (done.state, done.problems, done.error) == ("done", [], ""), done.error
    assert done.lines_read == done.total_lines == recorded.total_lines
    assert not Path(done.folder).exists()  # the files held report text
    response = client.get(f"/coordination/import/{ident}")
    assert "Refresh" not in response.headers
    page = text(response)
    assert "Importé" in page and "Ce que l'import a fait" in page

    cli_lines, cli_stored = cli_import(other_app, tmp_path, reports, resolutions)
    assert summary_of(page) == cli_lines
    assert stored() == cli_stored
    assert cli_stored["report"] and cli_stored["level_change"]
    assert any(s[3] == "resolved" for s in cli_stored["situation"])  # resolutions replayed
    print(f"\n{LINES} lines: the console job took {seconds:.1f} s ({LINES / seconds:.0f} lines/s)")


def test_a_dry_run_job_changes_nothing_and_says_what_the_cli_says(
    prisons: None,
    client: FlaskClient,
    coordinator: User,
    held: list[tuple[str, int]],
    other_app: Flask,
    tmp_path: Path,
) -> None:
    reports, resolutions = sample(200)
    login(client, coordinator)
    before, rows = counts(), stored()
    ident = job_id(timed_upload(client, reports, resolutions, dry_run="y"))
    import_jobs.run_import(ident)
    assert counts() == before and stored() == rows
    assert job(ident).state == "done"
    page = text(client.get(f"/coordination/import/{ident}"))
    assert "Simulation terminée\xa0: rien n'a été enregistré" in page
    assert "Ce que l'import ferait" in page
    cli_lines, cli_stored = cli_import(other_app, tmp_path, reports, resolutions, "--dry-run")
    assert summary_of(page) == cli_lines
    assert cli_lines[-1] == "Simulation\xa0: rien n'a été enregistré."
    assert cli_stored["report"] == []


def test_the_page_shows_the_progress_while_the_job_runs(
    prisons: None,
    app: Flask,
    client: FlaskClient,
    coordinator: User,
    held: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reports, resolutions = sample(400)
    login(client, coordinator)
    ident = job_id(upload(client, reports, resolutions))
    seen: list[Any] = []
    write = import_jobs.ProgressFile.__call__

    def and_look(self: import_jobs.ProgressFile, done: int, total: int) -> None:
        write(self, done, total)
        if not seen and done * 2 >= total:  # halfway: the page, from another request
            with app.app_context():  # its own session, as another request's
                seen.append((done, total, client.get(f"/coordination/import/{ident}")))

    monkeypatch.setattr(import_jobs.ProgressFile, "__call__", and_look)
    import_jobs.run_import(ident)
    done, total, response = seen[0]
    assert 0 < done < total
    assert response.headers["Refresh"] == "2"  # it polls, like the export page
    page = text(response)
    assert "En cours" in page
    assert f"{done} lignes lues sur {total}" in page
    assert f'value="{done * 100 // total}"' in page


def test_every_bad_line_is_listed_page_by_page_and_nothing_is_stored(
    prisons: None, client: FlaskClient, coordinator: User, held: list[tuple[str, int]]
) -> None:
    reports, _resolutions = sample(600)
    lines = reports.decode("utf-8-sig").split("\r\n")
    for index in range(1, 251):  # 250 lines name an unknown condition
        cells = lines[index].split(";")
        cells[3] = "XXX-99"
        lines[index] = ";".join(cells)
    login(client, coordinator)
    before = counts()
    ident = job_id(upload(client, "\r\n".join(lines).encode("utf-8-sig"), None))
    import_jobs.run_import(ident)
    assert counts() == before
    refused = job(ident)
    assert (refused.state, refused.refused, len(refused.problems)) == ("done", True, 250)
    first = text(client.get(f"/coordination/import/{ident}"))
    assert "Refusé\xa0: rien n'a été enregistré" in first
    assert "Import refusé\xa0: aucune donnée n'a été enregistrée." in first
    assert "250 lignes à corriger" in first
    message = "colonne «\xa0condition\xa0»\xa0: condition inconnue\xa0: «\xa0XXX-99\xa0»."
    assert f"Signalements, ligne 2, {message}" in first
    assert first.count(message) == 100 and "Page 1 sur 3" in first
    last = text(client.get(f"/coordination/import/{ident}?page=3"))
    assert f"Signalements, ligne 251, {message}" in last and last.count(message) == 50
    assert "Page 3 sur 3" in text(client.get(f"/coordination/import/{ident}?page=99999999999"))


def test_a_refused_file_is_shown_on_its_job_page(
    prisons: None, client: FlaskClient, coordinator: User, held: list[tuple[str, int]]
) -> None:
    login(client, coordinator)
    ident = job_id(upload(client, b"reference,establishment\r\nx,haren\r\n", None))
    import_jobs.run_import(ident)
    page = text(client.get(f"/coordination/import/{ident}"))
    assert "Signalements, ligne 1\xa0: en-tête attendu\xa0: reference;establishment;" in page
    not_utf8 = job_id(upload(client, "référence".encode("latin-1"), None))
    import_jobs.run_import(not_utf8)
    assert "n'est pas en UTF-8" in text(client.get(f"/coordination/import/{not_utf8}"))


def test_a_job_run_twice_imports_once(
    prisons: None, app: Flask, client: FlaskClient, coordinator: User, held: list[tuple[str, int]]
) -> None:
    reports, resolutions = sample(300)
    login(client, coordinator)
    ident = job_id(upload(client, reports, resolutions))
    race(app, lambda _i: import_jobs.run_import(ident), 4)
    once = counts()
    import_jobs.run_import(ident)  # late: claimed already, does nothing
    assert counts() == once
    assert once["audit_entry"] == 1  # one "history.import"
    assert job(ident).state == "done"


def test_the_embedded_mode_runs_the_job_in_a_thread(
    prisons: None, client: FlaskClient, coordinator: User
) -> None:
    reports, resolutions = sample(200)
    login(client, coordinator)
    ident = job_id(upload(client, reports, resolutions))
    finished = wait_until(lambda: job(ident).finished, 120, "the import thread")
    assert finished and job(ident).state == "done" and counts()["report"] > 0


def test_the_job_pages_are_for_coordinators(
    prisons: None,
    client: FlaskClient,
    worker: User,
    coordinator: User,
    held: list[tuple[str, int]],
) -> None:
    reports, resolutions = sample(50)
    login(client, coordinator)
    ident = job_id(upload(client, reports, resolutions))
    other = make_coordinator_client(client)
    assert other.get(f"/coordination/import/{ident}").status_code == 200  # like exports
    login(client, worker)
    assert client.get(f"/coordination/import/{ident}").status_code == 403
    assert client.get("/coordination/import").status_code == 403
    assert upload(client, reports, resolutions).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 1
    anonymous = client.application.test_client()
    assert anonymous.get(f"/coordination/import/{ident}").status_code in (302, 303, 401)
    login(client, coordinator)
    assert client.get("/coordination/import/999999").status_code == 404
    assert client.get(f"/coordination/import/{ident}?page=abc").status_code == 200


def make_coordinator_client(client: FlaskClient) -> FlaskClient:
    from tests.conftest import make_user

    other = client.application.test_client()
    login(other, make_user("coordinator"))
    return other


def test_the_upload_takes_large_files_and_refuses_larger_in_french(
    prisons: None, app: Flask, client: FlaskClient, coordinator: User, held: list[tuple[str, int]]
) -> None:
    global_limit = app.config["MAX_CONTENT_LENGTH"]
    reports, _resolutions = sample(40_000)
    assert len(reports) > 2 * global_limit  # several MB: over what other forms accept
    login(client, coordinator)
    ident = job_id(timed_upload(client, reports, None))
    assert job(ident).total_lines == 40_000
    too_big = b"x" * (import_jobs.MAX_UPLOAD_BYTES + 1)
    response = upload(client, too_big, None)
    assert response.status_code == 413
    assert "l'import accepte au plus 20 Mo par envoi" in text(response)
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 1
    # Every other form keeps the global limit.
    body = {"kind": "reports", "format": "csv", "x": "y" * (global_limit + 1)}
    assert client.post("/coordination/exports", data=body).status_code == 413
    login(client, make_worker())
    assert upload(client, too_big, None).status_code == 403  # refused before the body is read


def make_worker() -> User:
    from tests.conftest import make_user

    return make_user()


def test_garbage_posts_get_a_4xx(
    prisons: None, client: FlaskClient, coordinator: User, held: list[tuple[str, int]]
) -> None:
    login(client, coordinator)
    for data in ({}, {"reports": "not a file"}, {"dry_run": "\x00"}):
        response = client.post("/coordination/import", data=data)
        assert 400 <= response.status_code < 500
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)("/coordination/import/1").status_code == 405
    assert held == []


def test_the_cli_shows_its_progress(
    prisons: None, app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports, _resolutions = sample(200)
    (tmp_path / "r.csv").write_bytes(reports)
    arguments = ["import", "history", str(tmp_path / "r.csv"), "--dry-run"]
    plain = app.test_cli_runner().invoke(args=arguments)
    assert plain.exit_code == 0, plain.output
    said = [line for line in plain.stderr.splitlines() if line.startswith("Lignes rejouées")]
    assert said[-1] == "Lignes rejouées\xa0: 200 sur 200" and len(said) <= 11
    monkeypatch.setattr("barometre.cli.on_terminal", lambda: True)
    bar = app.test_cli_runner().invoke(args=arguments)
    assert bar.exit_code == 0 and "Lignes rejouées" in bar.stdout, bar.output


def test_imports_go_one_at_a_time_and_a_lost_one_is_taken_again(
    prisons: None, client: FlaskClient, coordinator: User, held: list[tuple[str, int]]
) -> None:
    reports, resolutions = sample(100)
    login(client, coordinator)
    first = job_id(upload(client, reports, resolutions))
    busy = upload(client, reports, resolutions)
    assert busy.status_code == 409
    assert "Un import est déjà en cours" in text(busy) and f"/coordination/import/{first}" in text(
        busy
    )
    # Its process died mid-run: "running" for longer than a job may, nothing kept.
    row = job(first)
    row.state, row.started_at = "running", clock.now() - timedelta(seconds=TIME_LIMIT + 1)
    db.session.commit()
    page = client.get(f"/coordination/import/{first}")
    assert "Refresh" not in page.headers and "L'import s'est interrompu" in text(page)
    second = job_id(upload(client, reports, resolutions))  # a lost job blocks nobody
    import_jobs.run_import(first)  # its task comes back: the job runs from its files
    assert job(first).state == "done" and counts()["report"] > 0
    import_jobs.run_import(second)
    assert job(second).totals["known"] > 0  # everything imported by the first


def test_a_large_upload_passes_the_csrf_check(
    prisons: None, app: Flask, client: FlaskClient, coordinator: User, held: list[tuple[str, int]]
) -> None:
    """The CSRF check reads the body first, in the app's own before_request: the import's
    size limit must be in place before it."""
    app.config["WTF_CSRF_ENABLED"] = True
    login(client, coordinator)
    form = client.get("/coordination/import").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token is not None
    reports, _resolutions = sample(30_000)
    assert len(reports) > app.config["MAX_CONTENT_LENGTH"]
    response = upload(client, reports, None, csrf_token=token.group(1))
    assert response.status_code == 303
