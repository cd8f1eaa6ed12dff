"""What the application announces, in one namespace (blinker, as Flask's own signals).

The core never imports the packages the app factory wires in (alerts): it
sends, and `alerts.init_app` connects module-level receivers. blinker keeps
one connection per receiver, so an app created again connects nothing twice.
A signal that asks for something gets each receiver's answer from `send`
(a list of `(receiver, answer)`); with no receiver connected it gets none.
"""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

level_changed = signals.signal(
    "level-changed",
    doc="""A level change was recorded (not an imported one). Sender: the session;
    `change`: the `LevelChange`. Receivers record their work in the same transaction.""",
)

account_email_wanted = signals.signal(
    "account-email-wanted",
    doc="""An account needs its password link by email. Sender: the session; `user`,
    `purpose` (`password_links.INVITE` or `RESET`). The receiver that delivers emails
    records it in this transaction and answers a `password_links.QueuedEmail`.
    `language`: the email's language when the request that asked for it decides
    (a reset: the page's language then); None: the account's.""",
)

job_asked = signals.signal(
    "job-asked",
    doc="""A console job (export, history import) was committed. Sender: the Flask app;
    `task`: the Celery task's name, `job_id`. A receiver that hands it to a worker answers
    True; when none does, a thread of this process runs it.""",
)

status_asked = signals.signal(
    "status-asked",
    doc="""The console home and banner count what waits. Sender: the session. Each
    receiver answers its lines (`console.status.Status`).""",
)

holdings_asked = signals.signal(
    "holdings-asked",
    doc="""The privacy page lists the data kept. Sender: the session. Each receiver answers
    its kinds of data (`privacy.Holding`).""",
)

openapi_asked = signals.signal(
    "openapi-asked",
    doc="""The OpenAPI document of /api/v1 is served. Sender: the session. Each receiver
    answers its part (`openapi.Part`: schemas and webhooks).""",
)

retention_due = signals.signal(
    "retention-due",
    doc="""The retention purge runs. Sender: the session; `settings`. Each receiver erases
    what outlived its retention (flush, no commit) and answers its counts by name.""",
)

work_committed = signals.signal(
    "work-committed",
    doc="""A transaction that recorded emails to deliver (`alerts.handoff`) committed.
    Sender: the Flask app; `handoff`: what it recorded. The receiver hands it over.""",
)

signed_in_from_new_device = signals.signal(
    "signed-in-from-new-device",
    doc="""An account signed in from a device none of its live or recent sessions used
    (`user_sessions.KNOWN_FOR`), and not for the first time. Sender: the session; `user`,
    `user_session` (the new `UserSession`). The receiver that delivers emails records the
    account holder's warning in this transaction.""",
)
