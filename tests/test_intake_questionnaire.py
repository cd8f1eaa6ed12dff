"""The questionnaire, the confirmation, my reports and the API token pages."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre import clock, services
from barometre.extensions import db
from barometre.models import ApiToken, Report, User
from barometre.services import ReportInput
from bench.querycount import count_queries
from intake import queries
from tests.conftest import bearer, file_report, login, make_user, one_line, report_input
from tests.intake_helpers import text


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "establishment": "haren",
        "visit_date": clock.today().isoformat(),
        "conditions": ["SEC-01"],
        "offer_types": ["individuel"],
        "description": "Pas de DECT à l'accueil.",
        "minutes_waited": "50",
        "activity_cancelled": "false",
        "detainees_not_seen": "2",
        "submission_id": str(uuid.uuid4()),
        "website": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


@pytest.fixture
def signed_in(client: FlaskClient, worker: User) -> FlaskClient:
    login(client, worker)
    return client


def reports() -> int:
    return db.session.query(Report).count()


class TestPage:
    def test_conditions_grouped_under_their_categories(self, signed_in: FlaskClient) -> None:
        response = signed_in.get("/signalement")
        page = text(response)
        assert response.status_code == 200
        legends = re.findall(r"<legend>([^<]+)</legend>", page)
        for category in (
            "Accessibilité",
            "Sécurité",
            "Offre de services",
            "Considération-reconnaissance-respect",
        ):
            assert category in legends
        assert page.count('name="conditions"') == 27
        # The DECT condition carries its keywords for the filter box.
        assert re.search(r'data-search="SEC-01 [^"]*dect talkie', page)
        assert "ni nom, ni numéro" in page
        assert f'value="{clock.today().isoformat()}"' in page
        assert re.search(r'name="submission_id" type="hidden" value="[0-9a-f-]{36}"', page)
        assert "<script>" not in page and "onclick" not in page
        assert 'src="/static/intake.js"' in page

    def test_retired_conditions_are_not_offered(self, signed_in: FlaskClient) -> None:
        from barometre.models import Condition

        condition = db.session.scalar(select(Condition).where(Condition.code == "ACC-02"))
        assert condition is not None
        condition.retired_at = clock.now()
        db.session.commit()
        assert 'value="ACC-02"' not in text(signed_in.get("/signalement"))


class TestSubmit:
    def test_report_then_confirmation_with_the_new_level(
        self, signed_in: FlaskClient, worker: User
    ) -> None:
        response = signed_in.post("/signalement", data=form())
        assert response.status_code == 303
        report = db.session.scalar(select(Report))
        assert report is not None and report.author_id == worker.id
        assert response.headers["Location"] == f"/signalement/{report.id}/merci"
        assert (report.minutes_waited, report.activity_cancelled, report.detainees_not_seen) == (
            50,
            False,
            2,
        )
        page = text(signed_in.get(response.headers["Location"]))
        assert "Code orange 1 sur 5" in page
        assert "Code vert → Code orange 1 sur 5" in page
        assert "Nouvelles situations problématiques" in page
        assert "bouton d'alarme" in page

    def test_confirming_an_open_situation(self, signed_in: FlaskClient, worker: User) -> None:
        file_report(worker, conditions=("SEC-01",))
        response = signed_in.post("/signalement", data=form(offer_types=["individuel"]))
        page = text(signed_in.get(response.headers["Location"]))
        assert "Le niveau n'a pas changé." in page
        assert "Situations déjà ouvertes que vous confirmez" in page
        assert "Code orange 1 sur 5" in page

    def test_double_submit_stores_one(self, signed_in: FlaskClient) -> None:
        data = form()
        first = signed_in.post("/signalement", data=data)
        second = signed_in.post("/signalement", data=data)
        assert first.headers["Location"] == second.headers["Location"]
        assert reports() == 1

    def test_back_button_resubmit_with_a_new_id_stores_one(self, signed_in: FlaskClient) -> None:
        first = signed_in.post("/signalement", data=form())
        again = signed_in.post("/signalement", data=form())  # the re-rendered form: new id
        assert first.headers["Location"] == again.headers["Location"] and reports() == 1
        other = signed_in.post("/signalement", data=form(conditions=["ACC-02"]))
        assert other.headers["Location"] != first.headers["Location"] and reports() == 2

    def test_same_report_later_is_a_new_report(self, signed_in: FlaskClient) -> None:
        with freeze_time(clock.now()) as frozen:
            signed_in.post("/signalement", data=form())
            frozen.tick(timedelta(minutes=11))
            signed_in.post("/signalement", data=form())
        assert reports() == 2

    def test_honeypot_stores_nothing(self, signed_in: FlaskClient) -> None:
        response = signed_in.post("/signalement", data=form(website="http://spam.example"))
        assert response.status_code == 400 and reports() == 0

    def test_optional_fields_may_be_empty(self, signed_in: FlaskClient) -> None:
        data = form(
            description="", minutes_waited="", detainees_not_seen="", activity_cancelled=...
        )
        assert signed_in.post("/signalement", data=data).status_code == 303
        report = db.session.scalar(select(Report))
        assert report is not None
        assert (report.minutes_waited, report.activity_cancelled, report.description) == (
            None,
            None,
            "",
        )

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"establishment": ...}, "establishment", "Choisissez un établissement."),
            ({"establishment": "inconnue"}, "establishment", "Établissement inconnu."),
            ({"establishment": "har\x00en"}, "establishment", "caractère interdit"),
            ({"establishment": "x" * 10_000}, "establishment", "Établissement inconnu."),
            ({"visit_date": ""}, "visit_date", "Ce champ est obligatoire."),
            ({"visit_date": "26/11/2026"}, "visit_date", "Date invalide"),
            ({"visit_date": "2026-11-\x0026"}, "visit_date", "Date invalide"),
            ({"visit_date": "FUTURE"}, "visit_date", "dans le futur"),
            ({"visit_date": "OLD"}, "visit_date", "plus de 90 jours"),
            ({"conditions": ...}, "conditions", "au moins une condition"),
            ({"conditions": ["NOPE-1"]}, "conditions", "Condition inconnue\xa0: NOPE-1."),
            ({"conditions": ["SEC-01\x00"]}, "conditions", "caractère interdit"),
            ({"conditions": ["X"] * 101}, "conditions", "Trop de valeurs."),
            ({"offer_types": ...}, "offer_types", "au moins un type d'offre"),
            ({"offer_types": ["aquatique"]}, "offer_types", "Type d'offre inconnu"),
            ({"offer_types": ["\x00"]}, "offer_types", "caractère interdit"),
            ({"description": "x" * 10_000}, "description", "2000 caractères"),
            ({"description": "a\x00b"}, "description", "caractère interdit"),
            ({"minutes_waited": "beaucoup"}, "minutes_waited", "Nombre entier attendu."),
            ({"minutes_waited": "9" * 10_000}, "minutes_waited", "Nombre entier attendu."),
            ({"minutes_waited": "1\x002"}, "minutes_waited", "Nombre entier attendu."),
            ({"detainees_not_seen": "-3"}, "detainees_not_seen", "entre 0 et"),
            ({"activity_cancelled": "peut-être"}, "activity_cancelled", "vrai/faux"),
        ],
    )
    def test_every_field_error_is_french_next_to_its_field_and_stores_nothing(
        self, signed_in: FlaskClient, changes: dict[str, Any], field: str, message: str
    ) -> None:
        if changes.get("visit_date") == "FUTURE":
            changes["visit_date"] = (clock.today() + timedelta(days=1)).isoformat()
        if changes.get("visit_date") == "OLD":
            changes["visit_date"] = (clock.today() - timedelta(days=91)).isoformat()
        response = signed_in.post("/signalement", data=form(**changes))
        assert response.status_code == 422
        page = text(response)
        errors = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', page, re.S)
        assert errors and message in errors.group(1), page[:3000]
        assert reports() == 0

    def test_everything_typed_is_kept_on_error(self, signed_in: FlaskClient) -> None:
        data = form(
            conditions=["SEC-01", "OFF-06"], offer_types=[], description="Attente de 2 h au greffe"
        )
        page = text(signed_in.post("/signalement", data=data))
        assert re.search(r'value="SEC-01"\s+checked', page)
        assert re.search(r'value="OFF-06"\s+checked', page)
        assert re.search(r'value="haren"\s*checked', page)
        assert "Attente de 2 h au greffe</textarea>" in page
        assert 'value="50"' in page and data["submission_id"] in page

    def test_several_errors_at_once(self, signed_in: FlaskClient) -> None:
        data = form(conditions=[], offer_types=[], visit_date="nope", minutes_waited="x")
        page = text(signed_in.post("/signalement", data=data))
        for field in ("conditions", "offer_types", "visit_date", "minutes_waited"):
            assert f'id="{field}-errors"' in page

    def test_repeat_check_does_not_grow_with_the_reports_of_the_day(self, worker: User) -> None:
        """One statement and no report loaded, whatever the author sent in the window."""
        author_id = worker.id

        def check(data: ReportInput) -> tuple[int, int, Report | None]:
            db.session.commit()
            db.session.expunge_all()  # nothing loaded beforehand: the check's own work
            with count_queries(db.engine) as log:
                found = queries.recent_repeat(db.session, author_id, data)
            loaded = sum(isinstance(o, Report) for o in db.session.identity_map.values())
            return log.count, loaded, found

        other = report_input(description="Un autre signalement.")
        file_report(worker, description="Premier.")
        assert check(other) == (1, 0, None)
        for n in range(12):
            author = db.session.get(User, author_id)
            file_report(author, description=f"Signalement {n}.", minutes_waited=n)
        assert check(other) == (1, 0, None)
        _statements, loaded, found = check(
            report_input(description="Signalement 3.", minutes_waited=3)
        )
        assert loaded == 1 and found is not None and found.description == "Signalement 3."

    def test_another_workers_submission_id_is_a_new_report(
        self, app: Flask, signed_in: FlaskClient, worker: User
    ) -> None:
        """Issue 11, item 3: worker B is never sent to A's thank-you page."""
        shared = str(uuid.uuid4())
        first = signed_in.post("/signalement", data=form(submission_id=shared))
        other_worker = make_user(service="Service B")
        other = app.test_client()
        login(other, other_worker)
        second = other.post(
            "/signalement",
            data=form(submission_id=shared, establishment="saint-gilles", conditions=["ACC-01"]),
        )
        assert second.status_code == 303 and reports() == 2
        assert second.headers["Location"] != first.headers["Location"]
        assert other.get(second.headers["Location"]).status_code == 200
        stored = db.session.scalar(select(Report).where(Report.author_id == other_worker.id))
        assert stored is not None and stored.establishment.slug == "saint-gilles"

    def test_tampered_submission_id(self, signed_in: FlaskClient) -> None:
        response = signed_in.post("/signalement", data=form(submission_id="pas-un-uuid"))
        assert response.status_code == 422 and reports() == 0
        assert "Identifiant de soumission invalide" in text(response)


class TestConfirmationAccess:
    def test_only_the_author_or_a_coordinator(self, app: Flask, worker: User) -> None:
        outcome = file_report(worker)
        url = f"/signalement/{outcome.report.id}/merci"
        other = app.test_client()
        login(other, make_user(service="Service B"))
        assert other.get(url).status_code == 403
        coordinator = app.test_client()
        login(coordinator, make_user("coordinator"))
        assert coordinator.get(url).status_code == 200
        author = app.test_client()
        login(author, worker)
        assert author.get(url).status_code == 200
        assert author.get("/signalement/99999/merci").status_code == 404


class TestMyReports:
    def test_own_reports_newest_first_with_their_text(
        self, signed_in: FlaskClient, worker: User
    ) -> None:
        colleague = make_user(service="Service A")
        file_report(colleague, description="Texte d'un collègue")
        signed_in.post("/signalement", data=form(description="Premier", visit_date=_days_ago(3)))
        signed_in.post("/signalement", data=form(description="Second", conditions=["ACC-02"]))
        page = text(signed_in.get("/mes-signalements"))
        assert page.index("Second") < page.index("Premier")
        assert "Texte d'un collègue" not in page

    def test_each_report_says_where_it_stands(
        self, app: Flask, signed_in: FlaskClient, worker: User
    ) -> None:
        settings = app.config["SETTINGS"]
        coordinator = make_user("coordinator")
        waiting = file_report(worker, description="En attente").report
        validated = file_report(worker, conditions=("ACC-01",), description="Validé").report
        rejected = file_report(worker, conditions=("ACC-02",), description="Rejeté").report
        late = file_report(worker, conditions=("ACC-03",), days_ago=40, description="Ancien")
        services.validate_report(db.session, validated.id, coordinator, settings)
        services.reject_report(db.session, rejected.id, coordinator, "Doublon", settings)
        db.session.commit()
        states = report_states(text(signed_in.get("/mes-signalements")))
        assert states[waiting.id] == (
            "À examiner — Pas encore examiné par le comité baromètre\xa0; "
            "il compte déjà dans le niveau."
        )
        assert states[validated.id] == (
            "Validé — Validé par le comité baromètre\xa0: ce signalement compte dans le niveau."
        )
        assert states[rejected.id] == (
            "Rejeté — Rejeté par le comité baromètre\xa0: ce signalement ne compte pas dans le "
            "niveau."
        )
        assert states[late.report.id].startswith("À examiner · Hors délai — La visite date de plus")
        assert "gardé dans l'historique" in states[late.report.id]

    @pytest.mark.parametrize("settings_overrides", [{"reports_require_review": True}])
    def test_under_review_a_report_counts_once_validated(
        self, signed_in: FlaskClient, worker: User
    ) -> None:
        report = file_report(worker).report
        states = report_states(text(signed_in.get("/mes-signalements")))
        assert states[report.id].endswith("il comptera après sa validation.")

    def test_in_dutch_and_english(self, signed_in: FlaskClient, worker: User) -> None:
        report = file_report(worker, days_ago=40).report
        seen = {}
        for language in ("nl", "en"):
            assert signed_in.post("/profil/langue", data={"language": language}).status_code == 303
            with (
                signed_in.application.app_context()
            ):  # a locale of its own (see test_user_language)
                page = text(signed_in.get("/mes-signalements"))
            seen[language] = report_states(page)[report.id]
        assert seen["nl"].startswith("Te beoordelen · Te laat — "), seen
        assert "40" not in seen["nl"] and "30" in seen["nl"], seen
        assert seen["en"].startswith("To review · Too late — "), seen


def report_states(page: str) -> dict[int, str]:
    """Each report's state line on « Mes signalements », by report id, spaces folded."""
    found = re.findall(
        r'<p class="report-state[^"]*">(.*?)</p>.*?/signalement/([0-9]+)/merci', page, re.S
    )
    return {int(i): one_line(re.sub(r"<[^>]+>", "", line)) for line, i in found}


def _days_ago(days: int) -> str:
    return (clock.today() - timedelta(days=days)).isoformat()


class TestTokens:
    def test_create_shows_the_token_once_and_it_works(
        self, signed_in: FlaskClient, worker: User
    ) -> None:
        response = signed_in.post("/jetons", data={"name": "tablette"})
        assert response.status_code == 201
        assert response.headers["Cache-Control"] == "no-store"
        token = re.search(r"<code>(bar_[^<]+)</code>", text(response))
        assert token
        api = signed_in.application.test_client()
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        assert api.get("/api/v1/establishments", headers=headers).status_code == 200
        listing = text(signed_in.get("/jetons"))
        assert token.group(1) not in listing
        assert token.group(1)[:10] in listing and "tablette" in listing
        assert "dernier usage le" in listing

    def test_revoke(self, signed_in: FlaskClient, worker: User) -> None:
        signed_in.post("/jetons", data={"name": "vieux"})
        stored = db.session.scalar(select(ApiToken))
        assert stored is not None
        assert signed_in.post(f"/jetons/{stored.id}/revoquer").status_code == 303
        db.session.refresh(stored)
        assert stored.revoked_at is not None
        assert "Révoqué le" in text(signed_in.get("/jetons"))

    def test_cannot_revoke_someone_elses(self, app: Flask, signed_in: FlaskClient) -> None:
        other = make_user(service="Service B")
        other_client = app.test_client()
        login(other_client, other)
        other_client.post("/jetons", data={"name": "à moi"})
        stored = db.session.scalar(select(ApiToken))
        assert stored is not None
        assert signed_in.post(f"/jetons/{stored.id}/revoquer").status_code == 404
        db.session.refresh(stored)
        assert stored.revoked_at is None

    @pytest.mark.parametrize("name", ["", "x" * 10_000, "a\x00b"])
    def test_bad_names(self, signed_in: FlaskClient, name: str) -> None:
        assert signed_in.post("/jetons", data={"name": name}).status_code == 422
        assert db.session.query(ApiToken).count() == 0


class TestThanksCount:
    def test_a_new_situation_at_a_red_establishment_is_counted_on_the_thank_you_page(
        self, signed_in: FlaskClient, worker: User
    ) -> None:
        """Rouge stays rouge: no level change is recorded, yet the count moved to 6."""
        five = ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02")
        file_report(worker, conditions=five, offer_types=("individuel", "collectif"))
        data = form(conditions=["SEC-03"], offer_types=["SEC-03:individuel"])
        response = signed_in.post("/signalement", data=data)
        assert response.status_code == 303
        page = text(signed_in.get(response.headers["Location"]))
        api = signed_in.get("/api/v1/establishments/haren").get_json()
        establishment = text(signed_in.get("/etablissements/haren"))
        assert api["level"]["open_situations"] == 6
        assert len(api["open_situations"]) == 6
        assert "6 situations problématiques ouvertes" in establishment
        assert "6 situations problématiques ouvertes" in page
        assert "Code rouge" in page

    def test_an_orange_five_waiting_for_offer_types_says_red_is_pending_not_blocked(
        self, signed_in: FlaskClient, worker: User
    ) -> None:
        """Five situations on one offer type: orange 5, red waits for a second type."""
        four = ("ACC-01", "ACC-02", "ACC-03", "SEC-01")
        file_report(worker, conditions=four, offer_types=("individuel",))
        data = form(conditions=["SEC-02"], offer_types=["SEC-02:individuel"])
        response = signed_in.post("/signalement", data=data)
        page = text(signed_in.get(response.headers["Location"]))
        assert "Orange 5" in page or "orange 5" in page
        assert "Rouge en attente\xa0: il faut des situations touchant au moins 2 types" in page
        assert "bloqué par la diversité" not in page


class TestLateVisit:
    """A visit older than the TTL (30 days) counts only as history: the worker is told
    before anything is stored, and sends it by ticking a box (no JavaScript needed)."""

    def test_the_page_warns_and_stores_nothing_until_confirmed(
        self, signed_in: FlaskClient
    ) -> None:
        data = form(visit_date=_days_ago(31), description="Attente au greffe")
        response = signed_in.post("/signalement", data=data)
        assert response.status_code == 200
        assert reports() == 0
        page = text(response)
        warning = re.search(
            r'<div class="warning late-warning"[^>]*role="alert">(.*?)</div>\s*</div>', page, re.S
        )
        assert warning, page[:3000]
        words = " ".join(re.sub(r"<[^>]+>", " ", warning.group(1)).split())
        assert "Visite de plus de 30 jours" in words
        assert "gardé dans l'historique" in words and "ne changera pas le niveau" in words
        assert "une situation ne compte que 30 jours après la dernière visite" in words
        assert re.search(r'<input id="confirm_late" name="confirm_late" type="checkbox"', page)
        # Everything typed is kept, the same submission id included.
        assert "Attente au greffe</textarea>" in page and data["submission_id"] in page
        assert f'value="{_days_ago(31)}"' in page
        confirmed = signed_in.post("/signalement", data={**data, "confirm_late": "y"})
        assert confirmed.status_code == 303 and reports() == 1
        thanks = text(signed_in.get(confirmed.headers["Location"]))
        assert "Ce signalement ne compte pas dans le niveau." in thanks

    @pytest.mark.parametrize("days", [0, 29, 30])
    def test_a_recent_visit_is_sent_at_once(self, signed_in: FlaskClient, days: int) -> None:
        response = signed_in.post("/signalement", data=form(visit_date=_days_ago(days)))
        assert response.status_code == 303 and reports() == 1

    def test_errors_and_the_warning_come_together(self, signed_in: FlaskClient) -> None:
        response = signed_in.post(
            "/signalement", data=form(visit_date=_days_ago(40), conditions=[], offer_types=[])
        )
        assert response.status_code == 422
        page = text(response)
        assert 'id="conditions-errors"' in page and "Visite de plus de 30 jours" in page
        assert reports() == 0

    def test_too_old_is_an_error_not_a_warning(self, signed_in: FlaskClient) -> None:
        response = signed_in.post("/signalement", data=form(visit_date=_days_ago(91)))
        assert response.status_code == 422
        assert 'class="warning late-warning"' not in text(response)

    def test_with_javascript_a_hint_beside_the_date(self, signed_in: FlaskClient) -> None:
        page = text(signed_in.get("/signalement"))
        hint = re.search(
            r'<p class="hint warning"[^>]*data-late-before="([0-9-]+)"[^>]*hidden>', page
        )
        assert hint and hint.group(1) == _days_ago(30), page[:3000]
        assert 'name="confirm_late"' not in page

    def test_the_api_is_unchanged_and_says_it_does_not_count(
        self, client: FlaskClient, worker: User
    ) -> None:
        payload = {
            "establishment": "haren",
            "visit_date": _days_ago(31),
            "conditions": [{"code": "SEC-01", "offer_types": ["individuel"]}],
        }
        response = client.post("/api/v1/reports", json=payload, headers=bearer(worker))
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["counted"] is False
        assert "30 jours" in response.get_json()["reason"]
