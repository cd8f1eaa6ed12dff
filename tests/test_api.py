"""The JSON API: every status code, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.channels import openapi as openapi_parts
from barometre import clock, openapi
from barometre.extensions import db
from barometre.models import ROLE_WORKER, ApiToken, Report, Situation, User
from tests.conftest import bearer, login, make_user


def days_from_today(days: int) -> str:
    return (clock.today() + timedelta(days=days)).isoformat()


def body(**changes: Any) -> dict[str, Any]:
    """A valid report with `changes`; an int visit_date is days from today, read at call
    time (a date read at collection is yesterday's for a run crossing midnight)."""
    payload: dict[str, Any] = {
        "establishment": "haren",
        "visit_date": days_from_today(0),
        "conditions": ["SEC-01"],
        "offer_types": ["individuel"],
        "description": "Pas de DECT disponible à l'accueil.",
        "minutes_waited": 50,
        "activity_cancelled": False,
        "detainees_not_seen": 2,
    }
    payload.update(changes)
    if isinstance(payload["visit_date"], int):
        payload["visit_date"] = days_from_today(payload["visit_date"])
    return {k: v for k, v in payload.items() if v is not ...}


def test_referentiel_is_public(client: FlaskClient) -> None:
    data = client.get("/api/v1/referentiel").get_json()
    assert [c["code"] for c in data["categories"]] == ["ACC", "SEC", "OFF", "CON"]
    assert len(data["conditions"]) == 27
    sec04 = next(c for c in data["conditions"] if c["code"] == "SEC-04")
    assert sec04["examples"] == "tuberculose (TBC)" and sec04["examples_en"] == "tuberculosis (TB)"
    assert [o["code"] for o in data["offer_types"]] == ["individuel", "collectif", "cellulaire"]


def test_post_report_returns_201_with_the_level(client: FlaskClient, worker: User) -> None:
    response = client.post("/api/v1/reports", json=body(), headers=bearer(worker))
    assert response.status_code == 201
    data = response.get_json()
    assert data["level"] == {
        "colour": "orange",
        "step": 1,
        "open_situations": 1,
        "offer_types": ["individuel"],
        "red_blocked_by_diversity": False,
    }
    report = db.session.get(Report, data["id"])
    assert report is not None and report.service_id == worker.service_id


def test_repeated_submission_id_returns_the_first(client: FlaskClient, worker: User) -> None:
    payload = body(submission_id="7d5c4b2a-3e1f-4a6b-8c9d-0e1f2a3b4c5d")
    first = client.post("/api/v1/reports", json=payload, headers=bearer(worker))
    second = client.post("/api/v1/reports", json=payload, headers=bearer(worker))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    assert db.session.query(Report).count() == 1


def test_another_users_submission_id_is_a_new_report(client: FlaskClient, worker: User) -> None:
    """Issue 11, item 3: B's report under A's id is stored, and B never sees A's report."""
    other = make_user(ROLE_WORKER, service="Service B")
    shared = "3f6a1c2e-9b8d-4e7f-a1b2-c3d4e5f6a7b8"
    first = client.post(
        "/api/v1/reports",
        json=body(submission_id=shared, establishment="saint-gilles"),
        headers=bearer(worker),
    )
    second = client.post(
        "/api/v1/reports",
        json=body(submission_id=shared, conditions=["ACC-01"]),
        headers=bearer(other),
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json()["id"] != first.get_json()["id"]
    assert second.get_json()["establishment"] == "haren"
    stored = db.session.get(Report, second.get_json()["id"])
    assert stored is not None and stored.author_id == other.id
    assert [c.code for c in stored.conditions] == ["ACC-01"]
    again = client.post(
        "/api/v1/reports",
        json=body(submission_id=shared, conditions=["ACC-01"]),
        headers=bearer(other),
    )
    assert again.status_code == 200 and again.get_json()["id"] == stored.id
    assert db.session.query(Report).count() == 2


def test_submission_id_in_upper_case_is_the_same_id(client: FlaskClient, worker: User) -> None:
    lower = "7d5c4b2a-3e1f-4a6b-8c9d-0e1f2a3b4c5d"
    first = client.post("/api/v1/reports", json=body(submission_id=lower), headers=bearer(worker))
    upper = client.post(
        "/api/v1/reports", json=body(submission_id=lower.upper()), headers=bearer(worker)
    )
    assert (first.status_code, upper.status_code) == (201, 200)
    assert upper.get_json()["id"] == first.get_json()["id"]
    assert db.session.scalars(select(Report.submission_id)).all() == [lower]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"establishment": ...}, "establishment"),
        ({"establishment": "inconnue"}, "establishment"),
        ({"visit_date": ...}, "visit_date"),
        ({"visit_date": "26/11/2026"}, "visit_date"),
        ({"visit_date": 1}, "visit_date"),
        ({"visit_date": -91}, "visit_date"),
        ({"conditions": []}, "conditions"),
        ({"conditions": ...}, "conditions"),
        ({"conditions": "SEC-01"}, "conditions"),
        ({"conditions": ["NOPE-1"]}, "conditions"),
        ({"offer_types": []}, "offer_types"),
        ({"offer_types": ["aquatique"]}, "offer_types"),
        ({"description": "x" * 10_000}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"description": 12}, "description"),
        ({"minutes_waited": "beaucoup"}, "minutes_waited"),
        ({"minutes_waited": True}, "minutes_waited"),
        ({"detainees_not_seen": -3}, "detainees_not_seen"),
        ({"activity_cancelled": "oui"}, "activity_cancelled"),
        ({"submission_id": "abc"}, "submission_id"),
        ({"auteur": "Jean"}, "auteur"),
    ],
)
def test_bad_input_is_422_with_french_field_errors(
    client: FlaskClient, worker: User, changes: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/reports", json=body(**changes), headers=bearer(worker))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert field in errors and all(isinstance(m, str) and m for m in errors[field])
    assert db.session.query(Report).count() == 0


def test_messages_are_french(client: FlaskClient, worker: User) -> None:
    response = client.post("/api/v1/reports", json=body(conditions=[]), headers=bearer(worker))
    assert response.get_json()["errors"]["conditions"] == [
        "Choisissez au moins une condition non respectée."
    ]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"null", b"\x00\xff"])
def test_unreadable_body_is_422(client: FlaskClient, worker: User, raw: bytes) -> None:
    response = client.post(
        "/api/v1/reports",
        data=raw,
        headers={**bearer(worker), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "body" in response.get_json()["errors"]


def test_no_token_is_401(client: FlaskClient) -> None:
    response = client.post("/api/v1/reports", json=body())
    assert response.status_code == 401
    assert response.get_json()["error"] == "Authentification requise."


def test_bad_token_is_401(client: FlaskClient) -> None:
    headers = {"Authorization": "Bearer bar_not-a-real-token"}
    assert client.post("/api/v1/reports", json=body(), headers=headers).status_code == 401


def test_revoked_token_is_401(client: FlaskClient, worker: User) -> None:
    headers = bearer(worker)
    token = db.session.scalar(select(ApiToken))
    assert token is not None
    token.revoked_at = token.created_at
    db.session.commit()
    assert client.post("/api/v1/reports", json=body(), headers=headers).status_code == 401


def test_tokens_are_stored_hashed(worker: User) -> None:
    headers = bearer(worker)
    raw = headers["Authorization"].split()[1]
    stored = db.session.scalar(select(ApiToken))
    assert stored is not None and raw not in stored.token_hash and len(stored.token_hash) == 64


def _situation_id(client: FlaskClient, worker: User) -> int:
    client.post("/api/v1/reports", json=body(), headers=bearer(worker))
    situation = db.session.scalar(select(Situation))
    assert situation is not None
    return situation.id


def test_worker_cannot_resolve_403(client: FlaskClient, worker: User) -> None:
    situation_id = _situation_id(client, worker)
    response = client.post(
        f"/api/v1/situations/{situation_id}/resolve", json={"note": "ok"}, headers=bearer(worker)
    )
    assert response.status_code == 403


def test_coordinator_resolves(client: FlaskClient, worker: User, coordinator: User) -> None:
    situation_id = _situation_id(client, worker)
    url = f"/api/v1/situations/{situation_id}/resolve"
    headers = bearer(coordinator)
    assert client.post(url, json={}, headers=headers).status_code == 422
    response = client.post(url, json={"note": "Réglé en concertation"}, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["level"]["colour"] == "vert"
    assert client.post(url, json={"note": "encore"}, headers=headers).status_code == 409
    missing = client.post("/api/v1/situations/999/resolve", json={"note": "x"}, headers=headers)
    assert missing.status_code == 404


def test_coordinator_rejects(client: FlaskClient, worker: User, coordinator: User) -> None:
    report_id = client.post("/api/v1/reports", json=body(), headers=bearer(worker)).get_json()["id"]
    url = f"/api/v1/reports/{report_id}/reject"
    assert client.post(url, json={"reason": "x"}, headers=bearer(worker)).status_code == 403
    response = client.post(url, json={"reason": "Doublon"}, headers=bearer(coordinator))
    assert response.status_code == 200
    assert response.get_json()["level"]["colour"] == "vert"
    missing = client.post(
        "/api/v1/reports/999/reject", json={"reason": "x"}, headers=bearer(coordinator)
    )
    assert missing.status_code == 404


def test_session_cookie_cannot_write(client: FlaskClient, worker: User) -> None:
    login(client, worker)
    assert client.post("/api/v1/reports", json=body()).status_code == 401


class TestPrivateBarometer:
    def test_reads_need_a_token(self, client: FlaskClient, worker: User) -> None:
        assert client.get("/api/v1/establishments").status_code == 401
        assert client.get("/api/v1/establishments/haren").status_code == 401
        response = client.get("/api/v1/establishments", headers=bearer(worker))
        assert response.status_code == 200
        assert [e["slug"] for e in response.get_json()["establishments"]] == [
            "haren",
            "saint-gilles",
        ]

    def test_unknown_establishment_is_404(self, client: FlaskClient, worker: User) -> None:
        assert client.get("/api/v1/establishments/nope", headers=bearer(worker)).status_code == 404

    def test_detail_lists_open_situations_for_users(
        self, client: FlaskClient, worker: User
    ) -> None:
        headers = bearer(worker)
        client.post("/api/v1/reports", json=body(), headers=headers)
        data = client.get("/api/v1/establishments/haren", headers=headers).get_json()
        (situation,) = data["open_situations"]
        assert situation["condition"] == "SEC-01" and situation["report_count"] == 1
        assert data["recent_changes"][0]["to"] == {"colour": "orange", "step": 1}


class TestPublicBarometer:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"public_barometer": True}

    def test_anonymous_sees_aggregates_only(self, client: FlaskClient, worker: User) -> None:
        client.post("/api/v1/reports", json=body(), headers=bearer(worker))
        for url in ("/api/v1/establishments", "/api/v1/establishments/haren"):
            response = client.get(url)
            assert response.status_code == 200
            text = response.get_data(as_text=True)
            for secret in ("DECT disponible", worker.email, "Service A", "Camille"):
                assert secret not in text
        detail = client.get("/api/v1/establishments/haren").get_json()
        assert "open_situations" not in detail
        assert detail["level"]["colour"] == "orange"
        assert detail["breakdown"]["by_category"]["SEC"] == 1


def test_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/reports", "/api/v1/establishments/{slug}"} <= set(document["paths"])
    # What alerts adds (issue 30): the webhooks a channel receives, their schemas.
    assert set(document["webhooks"]) == set(openapi_parts.EVENT_SCHEMAS)
    assert set(openapi_parts.SCHEMAS) <= set(document["components"]["schemas"])


def test_a_part_may_not_take_a_name_the_document_has(client: FlaskClient) -> None:
    choices = openapi.current_choices(db.session, 90)
    with pytest.raises(ValueError, match="Error"):
        openapi.document(choices, [openapi.Part(schemas={"Error": {}})])
    twice = openapi.Part(webhooks={"level.changed": {}})
    with pytest.raises(ValueError, match=r"level\.changed"):
        openapi.document(choices, [twice, twice])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("establishment", "har\x00en"),
        ("conditions", ["SEC-01\x00"]),
        ("offer_types", ["\x00"]),
        ("submission_id", "\x00"),
    ],
)
def test_nul_bytes_are_field_errors_never_500(
    client: FlaskClient, worker: User, field: str, value: Any
) -> None:
    response = client.post("/api/v1/reports", json=body(**{field: value}), headers=bearer(worker))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert db.session.query(Report).count() == 0
