"""Sessions on the server (issue 29): one row per signed-in browser, listed on the
profile's sessions page, each one ended at once by its holder (or all of an account's by a
coordinator); every sign-in and every end audited; a sign-in from a device the account had
not used warns its holder by email. A copy of an ended session's cookie opens nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from alerts.models import Notification
from barometre import clock, user_sessions
from barometre.extensions import db
from barometre.models import AuditEntry, User, UserSession
from tests.conftest import PASSWORD, bearer, login, make_user
from tests.intake_helpers import body_of, outbox, sign_in, text

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
NEW_PASSWORD = "un-autre-mot-de-passe-solide"


def browser(app: Flask, user_agent: str = FIREFOX_LINUX) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def signed_in(client: FlaskClient, user: User, address: str = "192.0.2.1") -> UserSession:
    """Sign in by the form; the session row it started."""
    assert sign_in(client, user.email, address=address).status_code == 303
    row = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id.desc())
    ).first()
    assert row is not None
    return row


def cookie_of(app: Flask, client: FlaskClient) -> str:
    saved = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert saved is not None
    return saved.value


def replayed(app: Flask, cookie: str, url: str = "/mes-signalements") -> int:
    """The status a fresh browser gets with a copy of a session cookie."""
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return replay.get(url).status_code


def actions(user: User) -> list[tuple[str, int | None, dict[str, object]]]:
    query = select(AuditEntry).where(AuditEntry.action.like("session.%")).order_by(AuditEntry.id)
    return [
        (row.action, row.actor_id, row.detail)
        for row in db.session.scalars(query)
        if row.target_id == user.id
    ]


def fresh(row: UserSession) -> UserSession:
    db.session.expire_all()
    found = db.session.get(UserSession, row.id)
    assert found is not None
    return found


class TestTheDevice:
    @pytest.mark.parametrize(
        ("agent", "device"),
        [
            (FIREFOX_LINUX, ("Firefox", "Linux")),
            (CHROME_WINDOWS, ("Chrome", "Windows")),
            (SAFARI_IPHONE, ("Safari", "iOS")),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Mobile Safari/537.36",
                ("Chrome", "Android"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
                " Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                ("Edge", "Windows"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                ("Safari", "macOS"),
            ),
            ("curl/8.5.0", ("", "")),
            ("", ("", "")),
        ],
    )
    def test_browser_and_system_from_the_user_agent(
        self, agent: str, device: tuple[str, str]
    ) -> None:
        assert user_sessions.device_of(agent) == device

    def test_a_long_user_agent_is_kept_truncated(self, app: Flask, worker: User) -> None:
        client = browser(app, FIREFOX_LINUX + " x" * 400)
        row = signed_in(client, worker)
        assert len(row.user_agent) == 300 and (row.browser, row.system) == ("Firefox", "Linux")


# Two devices: the second one's email leaves after commit (another connection).
@pytest.mark.committing
class TestTheSessionsPage:
    def test_a_sign_in_by_the_form_is_listed_as_this_session(
        self, app: Flask, worker: User
    ) -> None:
        client = browser(app)
        row = signed_in(client, worker, address="198.51.100.7")
        assert (row.client_address, row.ended_at) == ("198.51.100.7", None)
        assert row.secret_hash not in cookie_of(app, client)
        page = client.get("/profil/sessions")
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
        words = text(page)
        assert "Firefox sur Linux" in words and "cette session" in words
        assert "198.51.100.7" in words
        assert "Terminer toutes les autres sessions" not in words  # no other session
        assert 'href="/profil/sessions"' in text(client.get("/profil"))

    def test_the_address_is_the_proxy_s_client_when_proxies_are_trusted(
        self, app: Flask, worker: User
    ) -> None:
        """TRUSTED_PROXIES: the client address is the one the proxy reports
        (`request.remote_addr` after ProxyFix), an IPv6 client its /64, as the throttles."""
        client = browser(app)
        response = client.post(
            "/connexion",
            data={"email": worker.email, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"},
        )
        assert response.status_code == 303
        [row] = user_sessions.live(db.session, worker)
        assert row.client_address == "2001:db8:1:2::/64"

    def test_ending_another_session_makes_its_cookie_useless(
        self, app: Flask, worker: User
    ) -> None:
        first, second = browser(app), browser(app, CHROME_WINDOWS)
        signed_in(first, worker)
        other = signed_in(second, worker, address="203.0.113.9")
        copy = cookie_of(app, second)
        assert replayed(app, copy) == 200
        words = text(first.get("/profil/sessions"))
        assert "Chrome sur Windows" in words and "203.0.113.9" in words
        response = first.post(f"/profil/sessions/{other.id}/terminer")
        assert response.status_code == 303 and response.headers["Location"] == "/profil/sessions"
        assert "Session terminée." in text(first.get("/profil/sessions"))
        assert fresh(other).ended_at is not None
        assert second.get("/mes-signalements").status_code in (303, 401)
        assert replayed(app, copy) in (303, 401)  # the copy of its cookie opens nothing
        assert replayed(app, copy, "/profil/sessions") in (303, 401)
        assert first.get("/mes-signalements").status_code == 200  # this one goes on
        assert "Chrome sur Windows" not in text(first.get("/profil/sessions"))

    def test_end_all_others_keeps_this_one(self, app: Flask, worker: User) -> None:
        here = browser(app)
        current = signed_in(here, worker)
        others = [browser(app, CHROME_WINDOWS), browser(app, SAFARI_IPHONE)]
        copies = []
        for client in others:
            signed_in(client, worker)
            copies.append(cookie_of(app, client))
        assert "Terminer toutes les autres sessions" in text(here.get("/profil/sessions"))
        response = here.post("/profil/sessions/terminer-les-autres")
        assert response.status_code == 303
        assert "2 autres sessions terminées." in text(here.get("/profil/sessions"))
        assert [row.id for row in user_sessions.live(db.session, worker)] == [current.id]
        for copy in copies:
            assert replayed(app, copy) in (303, 401)
        assert here.get("/mes-signalements").status_code == 200
        assert actions(worker)[-1] == ("session.end_others", worker.id, {"sessions": 2})
        again = here.post("/profil/sessions/terminer-les-autres")
        assert "Aucune autre session n'était ouverte." in text(here.get(again.headers["Location"]))

    def test_ending_this_session_from_the_list_signs_out(self, app: Flask, worker: User) -> None:
        client = browser(app)
        row = signed_in(client, worker)
        response = client.post(f"/profil/sessions/{row.id}/terminer")
        assert response.status_code == 303 and response.headers["Location"] == "/connexion"
        assert fresh(row).ended_at is not None
        assert client.get("/mes-signalements").status_code in (303, 401)

    def test_nobody_ends_a_session_of_another_account(
        self, app: Flask, worker: User, coordinator: User
    ) -> None:
        theirs = signed_in(browser(app), coordinator)
        mine = browser(app)
        signed_in(mine, worker)
        assert mine.post(f"/profil/sessions/{theirs.id}/terminer").status_code == 404
        assert mine.post("/profil/sessions/999999/terminer").status_code == 404
        assert fresh(theirs).ended_at is None

    def test_an_ended_session_cannot_be_ended_twice(self, app: Flask, worker: User) -> None:
        here = browser(app)
        signed_in(here, worker)
        other = signed_in(browser(app, CHROME_WINDOWS), worker)
        assert here.post(f"/profil/sessions/{other.id}/terminer").status_code == 303
        assert here.post(f"/profil/sessions/{other.id}/terminer").status_code == 404
        assert [a for a, _, _ in actions(worker)].count("session.end") == 1

    def test_sign_out_ends_only_this_session(self, app: Flask, worker: User) -> None:
        here, there = browser(app), browser(app, CHROME_WINDOWS)
        row = signed_in(here, worker)
        other = signed_in(there, worker)
        copy = cookie_of(app, here)
        assert here.post("/deconnexion").status_code == 303
        assert fresh(row).ended_at is not None
        assert replayed(app, copy) in (303, 401)
        assert fresh(other).ended_at is None and there.get("/mes-signalements").status_code == 200
        assert actions(worker)[-1] == ("session.sign_out", worker.id, {"session_id": row.id})

    def test_a_password_change_keeps_this_session_and_ends_the_others(
        self, app: Flask, worker: User
    ) -> None:
        here, there = browser(app), browser(app, CHROME_WINDOWS)
        row = signed_in(here, worker)
        other = signed_in(there, worker)
        data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        assert here.post("/profil/mot-de-passe", data=data).status_code == 303
        assert [r.id for r in user_sessions.live(db.session, worker)] == [row.id]
        assert fresh(other).ended_at is not None
        assert here.get("/mes-signalements").status_code == 200
        assert there.get("/mes-signalements").status_code in (303, 401)
        # Not a new sign-in: no audit row for it, no email.
        assert [a for a, _, _ in actions(worker)].count("session.sign_in") == 2

    def test_a_session_older_than_the_account_s_version_opens_nothing(
        self, app: Flask, worker: User
    ) -> None:
        """Both must hold: a live row and the account's session_version."""
        client = browser(app)
        row = signed_in(client, worker)
        worker.session_version += 1
        db.session.commit()
        assert fresh(row).ended_at is None
        assert client.get("/mes-signalements").status_code in (303, 401)

    def test_a_cookie_without_its_session_value_opens_nothing(
        self, app: Flask, worker: User
    ) -> None:
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie["_user_id"] = worker.get_id()
        assert client.get("/mes-signalements").status_code in (303, 401)
        with client.session_transaction() as cookie:
            cookie["_session"] = "not-a-session"
        assert client.get("/mes-signalements").status_code in (303, 401)

    def test_a_session_value_of_another_account_opens_nothing(
        self, app: Flask, worker: User, coordinator: User
    ) -> None:
        theirs = login(app.test_client(), coordinator)
        client = app.test_client()
        login(client, worker)
        with client.session_transaction() as cookie:
            cookie["_session"] = theirs
        assert client.get("/mes-signalements").status_code in (303, 401)

    def test_last_seen_is_written_at_most_once_a_minute(self, app: Flask, worker: User) -> None:
        start = datetime(2026, 3, 2, 9)
        client = browser(app)
        with freeze_time(start) as frozen:
            row = signed_in(client, worker)
            frozen.tick(timedelta(seconds=59))
            assert client.get("/mes-signalements").status_code == 200
            assert fresh(row).last_seen_at == start
            frozen.tick(timedelta(seconds=2))
            assert client.get("/mes-signalements").status_code == 200
            assert fresh(row).last_seen_at == start + timedelta(seconds=61)
            assert fresh(row).created_at == start

    def test_the_page_needs_a_session(self, client: FlaskClient) -> None:
        assert client.get("/profil/sessions").status_code in (302, 303, 401)
        assert client.post("/profil/sessions/terminer-les-autres").status_code in (302, 303, 401)


# Two devices: the second one's email leaves after commit (another connection).
@pytest.mark.committing
class TestACoordinator:
    def test_ends_every_session_of_another_account(
        self, app: Flask, worker: User, coordinator: User
    ) -> None:
        clients = [browser(app), browser(app, CHROME_WINDOWS)]
        copies = []
        for client in clients:
            signed_in(client, worker)
            copies.append(cookie_of(app, client))
        console = browser(app)
        signed_in(console, coordinator)
        page = text(console.get(f"/coordination/utilisateurs/{worker.id}"))
        assert "Firefox sur Linux" in page and "Chrome sur Windows" in page
        response = console.post(f"/coordination/utilisateurs/{worker.id}/sessions/terminer")
        assert response.status_code == 303
        page = text(console.get(response.headers["Location"]))
        assert f"2 sessions terminées pour {worker.email}." in page
        assert "Aucune session ouverte." in page
        assert user_sessions.live(db.session, worker) == []
        for client, copy in zip(clients, copies, strict=True):
            assert client.get("/mes-signalements").status_code in (303, 401)
            assert replayed(app, copy) in (303, 401)
        assert actions(worker)[-1] == ("session.end_all", coordinator.id, {"sessions": 2})
        assert console.get("/coordination/").status_code == 200  # the coordinator's goes on
        assert "Sessions d'un compte terminées" in text(console.get("/coordination/journal"))

    def test_not_their_own_from_the_console(self, app: Flask, coordinator: User) -> None:
        console = browser(app)
        signed_in(console, coordinator)
        response = console.post(f"/coordination/utilisateurs/{coordinator.id}/sessions/terminer")
        assert response.status_code == 303
        page = text(console.get(response.headers["Location"]))
        assert "Vos propres sessions se terminent depuis la page Sessions de votre profil." in page
        assert len(user_sessions.live(db.session, coordinator)) == 1

    def test_a_worker_cannot(self, app: Flask, worker: User, coordinator: User) -> None:
        theirs = signed_in(browser(app), coordinator)
        client = browser(app)
        signed_in(client, worker)
        url = f"/coordination/utilisateurs/{coordinator.id}/sessions/terminer"
        assert client.post(url).status_code == 403
        assert fresh(theirs).ended_at is None

    def test_disabling_an_account_ends_its_session_rows(
        self, app: Flask, worker: User, coordinator: User
    ) -> None:
        row = signed_in(browser(app), worker)
        console = browser(app)
        signed_in(console, coordinator)
        data = {"role": "worker", "service": str(worker.service_id), "language": ""}
        assert console.post(f"/coordination/utilisateurs/{worker.id}", data=data).status_code in (
            302,
            303,
        )
        assert fresh(row).ended_at is not None


# Two devices: the second one's email leaves after commit (another connection).
@pytest.mark.committing
class TestTheAudit:
    def test_sign_in_end_and_sign_out_are_audited_without_the_secret(
        self, app: Flask, worker: User
    ) -> None:
        here, there = browser(app), browser(app, CHROME_WINDOWS)
        first = signed_in(here, worker)
        second = signed_in(there, worker)
        here.post(f"/profil/sessions/{second.id}/terminer")
        here.post("/deconnexion")
        assert actions(worker) == [
            ("session.sign_in", worker.id, {"session_id": first.id}),
            ("session.sign_in", worker.id, {"session_id": second.id, "new_device": True}),
            ("session.end", worker.id, {"session_id": second.id}),
            ("session.sign_out", worker.id, {"session_id": first.id}),
        ]
        cookies = [cookie_of(app, there)]
        for entry in db.session.scalars(select(AuditEntry)):
            assert all(c not in str(entry.detail) for c in cookies)
            assert first.secret_hash not in str(entry.detail)

    def test_the_journal_says_them_in_words(
        self, app: Flask, worker: User, coordinator: User
    ) -> None:
        signed_in(browser(app), worker)
        console = browser(app)
        signed_in(console, coordinator)
        journal = text(console.get("/coordination/journal"))
        assert "Connexion" in journal and "session.sign_in" not in journal


class TestTokens:
    def test_an_api_token_is_not_a_session_and_still_works(
        self, app: Flask, client: FlaskClient, worker: User
    ) -> None:
        headers = bearer(worker)
        here = browser(app)
        signed_in(here, worker)
        here.post("/deconnexion")
        body = {
            "establishment": "haren",
            "visit_date": clock.today().isoformat(),
            "conditions": ["SEC-01"],
            "offer_types": ["individuel"],
        }
        assert client.post("/api/v1/reports", json=body, headers=headers).status_code == 201
        # The API makes no session row, and a token opens no sessions page.
        assert db.session.scalars(select(UserSession)).all() == [fresh_row(worker)]
        assert client.get("/profil/sessions", headers=headers).status_code in (302, 303, 401)


def fresh_row(user: User) -> UserSession:
    db.session.expire_all()
    [row] = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id))
    return row


@pytest.mark.committing  # the email leaves after commit, in the embedded mode's outbox
class TestTheNewDeviceEmail:
    def emails(self, app: Flask) -> list[str]:
        return [str(m["Subject"]) for m in outbox(app)]

    def test_not_on_the_first_sign_in_nor_from_a_known_device(
        self, app: Flask, worker: User
    ) -> None:
        signed_in(browser(app), worker)  # the first ever
        signed_in(browser(app), worker)  # the same device again
        assert self.emails(app) == []
        assert db.session.scalars(select(Notification)).all() == []

    def test_a_new_device_warns_the_account_holder_in_french(
        self, app: Flask, worker: User
    ) -> None:
        signed_in(browser(app), worker)
        with freeze_time(datetime(2026, 7, 14, 20, 5)):  # 22:05 in Brussels (summer time)
            client = browser(app, CHROME_WINDOWS)
            signed_in(client, worker, address="203.0.113.9")
        [message] = outbox(app)
        assert str(message["Subject"]) == "Nouvelle connexion à votre compte"
        assert message["To"] == worker.email and "List-Unsubscribe" not in message
        body = body_of(message)
        assert "Chrome sur Windows" in body
        assert "14 juil. 2026 à 22:05" in body
        assert "203.0.113.9" in body
        assert "http://localhost/profil/sessions" in body or "/profil/sessions" in body
        html = message.get_body(("html",))
        assert html is not None and "Chrome sur Windows" in str(html.get_content())
        secret = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        assert secret is not None and secret.value not in message.as_string()
        [row] = db.session.scalars(select(UserSession).where(UserSession.browser == "Chrome"))
        assert row.secret_hash not in message.as_string()
        [notification] = db.session.scalars(select(Notification))
        assert (notification.kind, notification.user_session_id, notification.state) == (
            "device",
            row.id,
            "sent",
        )

    def test_in_the_account_s_language(self, app: Flask) -> None:
        user = make_user()
        user.language = "nl"
        db.session.commit()
        signed_in(browser(app), user)
        signed_in(browser(app, SAFARI_IPHONE), user)
        [message] = outbox(app)
        assert str(message["Subject"]) != "Nouvelle connexion à votre compte"
        assert "Safari" in body_of(message) and "iOS" in body_of(message)

    def test_a_device_unused_for_ninety_days_is_new_again(self, app: Flask, worker: User) -> None:
        start = datetime(2026, 3, 2, 9)
        with freeze_time(start) as frozen:
            here = browser(app)
            signed_in(here, worker)
            here.post("/deconnexion")
            signed_in(browser(app, CHROME_WINDOWS), worker)  # new: one email
            frozen.tick(timedelta(days=91))
            signed_in(browser(app), worker)  # Firefox on Linux, not seen for 91 days
        assert len(self.emails(app)) == 2


class TestRetention:
    def test_an_ended_session_is_deleted_once_it_no_longer_makes_a_device_known(
        self, app: Flask, worker: User
    ) -> None:
        from barometre.retention import purge_expired

        settings = app.config["SETTINGS"]
        start = datetime(2026, 3, 2, 9)
        with freeze_time(start):
            ended = user_sessions.start(db.session, worker, FIREFOX_LINUX, "192.0.2.1").row
            live = user_sessions.start(db.session, worker, CHROME_WINDOWS, "192.0.2.1").row
            user_sessions.end(db.session, ended)
            db.session.commit()
        with freeze_time(start + timedelta(days=90)):
            assert purge_expired(db.session, settings).erased("sessions") == 0
        with freeze_time(start + timedelta(days=90, seconds=1)):
            purged = purge_expired(db.session, settings)
            db.session.commit()
        assert purged.erased("sessions") == 1
        remaining = db.session.scalars(select(UserSession.id)).all()
        assert remaining == [live.id]  # a live session stays, however old
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "retention.purge"))
        assert entry is not None and entry.detail["sessions"] == 1


class TestWhateverTheClientSends:
    @given(agent=st.text(max_size=700), address=st.text(max_size=100))
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    def test_any_user_agent_and_address_are_stored_as_one_line(
        self, app: Flask, agent: str, address: str
    ) -> None:
        """On PostgreSQL, which refuses a NUL character in text."""
        user = db.session.scalars(select(User).order_by(User.id)).first() or make_user()
        nested = db.session.begin_nested()
        row = user_sessions.start(db.session, user, agent, address).row  # flushed
        assert len(row.user_agent) <= 300 and len(row.client_address) <= 64
        assert "\x00" not in row.user_agent + row.client_address
        assert "\n" not in row.user_agent and row.user_agent == row.user_agent.strip()
        nested.rollback()

    def test_a_hostile_user_agent_signs_in(self, app: Flask, worker: User) -> None:
        client = browser(app, "Firefox/1\x00\r\n\x7fX-Injected: 1" + "é" * 500)
        row = signed_in(client, worker)
        assert row.user_agent.startswith("Firefox/1 X-Injected: 1") and len(row.user_agent) == 300
        assert row.browser == "Firefox"
        assert client.get("/profil/sessions").status_code == 200
