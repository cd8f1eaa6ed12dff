"""The history import alerts nobody (issue 15), checked against a real SMTP server.

Haren has every kind of recipient (`people`); the same recipients do get the
next live rise, so the silence of the import is not a silence of the set-up.
"""

from __future__ import annotations

from typing import Any

import pytest

from barometre.extensions import db
from tests.conftest import file_report
from tests.test_history_import import frozen, full_import, levels  # noqa: F401 - fixture

from .conftest import notifications
from .support import SmtpServer

pytestmark = pytest.mark.committing  # other connections, threads or processes read its commits


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "alert_group_wait": 0,
        "mail_from": "barometre@fidex.test",
    }


def test_the_import_sends_no_email_and_the_next_live_rise_does(
    people: dict[str, Any],
    smtp: SmtpServer,
    frozen: None,  # noqa: F811 - the fixture
) -> None:
    result = full_import()
    assert result.exit_code == 0, result.output
    assert levels()["haren"][:2] == ("orange", 2)
    db.session.commit()
    assert [(n.kind, n.recipient) for n in notifications()] == []
    assert smtp.collector.all() == []

    file_report(people["worker"], conditions=("ACC-02",), offer_types=("cellulaire",))
    assert levels()["haren"][:2] == ("orange", 3)
    assert {n.recipient for n in notifications()} >= {people["fr"], people["service_address"]}
    assert smtp.collector.all()
