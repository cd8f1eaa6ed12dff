"""Where every sign-in completes (the password, and the second step when there is one).

A minimal body on this branch: the sessions work (issue 29) records the session,
audits the sign-in and tells the account holder of a new device here.
"""

from __future__ import annotations

from flask_login import login_user

from barometre.models import User


def sign_in(user: User) -> None:
    login_user(user)
