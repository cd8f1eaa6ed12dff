"""A member service is found by its name in any case, by every path (issue 24, item 10).

SQLite's lower() folds ASCII letters only: « Éco » and « éco » were two names there for
the command line, while the console (commit e19c58c) took them as one. One rule now
(`admin.find_service`), on both databases.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from barometre.console import admin
from barometre.extensions import db
from barometre.models import MemberService, User

TYPED = ["éco", "ÉCO", "Éco", " éCo "]


@pytest.fixture
def eco(app: Flask) -> MemberService:
    row = admin.add_service(db.session, None, "Éco", "a@eco.test")
    db.session.commit()
    return row


def names() -> list[str]:
    return list(db.session.scalars(select(MemberService.name)))


@pytest.mark.parametrize("typed", TYPED)
def test_services_add_extends_the_service_in_any_case(
    app: Flask, eco: MemberService, typed: str
) -> None:
    result = app.test_cli_runner().invoke(args=["services", "add", typed, "--email", "b@eco.test"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert names() == ["Éco"]
    assert eco.alert_addresses == ["a@eco.test", "b@eco.test"]


@pytest.mark.parametrize("typed", TYPED)
def test_users_create_joins_the_service_in_any_case(
    app: Flask, eco: MemberService, typed: str
) -> None:
    result = app.test_cli_runner().invoke(
        args=["users", "create", "w@eco.test", "--service", typed, "--password-stdin"],
        input="mot-de-passe-solide\n",
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert names() == ["Éco"]
    user = db.session.scalar(select(User).where(User.email == "w@eco.test"))
    assert user is not None and user.service_id == eco.id


def test_the_console_and_the_command_line_share_the_rule(app: Flask, eco: MemberService) -> None:
    assert admin.find_service(db.session, "éCO") is eco
    assert admin.find_service(db.session, "E\u0301co") is eco  # « É » as E and an accent
    assert admin.find_service(db.session, "Eco") is None
    assert admin.find_service(db.session, "") is None
