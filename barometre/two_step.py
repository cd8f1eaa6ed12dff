"""The second step of a sign-in (issue 29): a code app (TOTP), passkeys, recovery codes.

After the password, an account with a second step proves it holds one of them:
a six-digit code of its code app (the current 30-second window or the one
before; a code serves once: the last accepted window is stored and an older or
equal one is refused), a passkey or security key (WebAuthn, its public key
stored), or one of ten recovery codes (stored as SHA-256, each used once, shown
once when they are made).

The TOTP secret is stored as is (base32): it is no more secret than the password
hash beside it, and it must survive a change of SECRET_KEY.

`REQUIRE_TWO_STEP` (`Settings.two_step_required_of`) says whom it is required of;
`must_set_up` is what `barometre.auth` checks on every page.

Services in the house style: they take the session, flush, never commit, and audit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pyotp
import segno
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from . import clock, signals
from .audit import audit
from .errors import ValidationFailed
from .extensions import DbSession
from .models import PasskeyCredential, RecoveryCode, User
from .settings import Settings

ISSUER = "Baromètre Fidex"
STEP_SECONDS = 30
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_LENGTH = 16  # about 79 bits: no list of guesses reaches one
MAX_PASSKEYS = 10
# The page where someone sets up their second step (intake's; named here for the core's
# check of every page, which sends there).
SETUP_ENDPOINT = "intake.two_step_setup"
# The email telling someone their second step was reset (alerts.kinds; a notification's
# kind is at most 8 characters).
RESET_EMAIL = "twostep"

ALL = "all"
COORDINATORS = "coordinators"


class PasskeyRefused(Exception):
    """A passkey's answer did not verify (wrong challenge, origin, signature, unknown key)."""


# --- who needs what ---------------------------------------------------------------------------


def required(user: User, settings: Settings) -> bool:
    """REQUIRE_TWO_STEP applies to this account."""
    rule = settings.two_step_required_of
    return rule == ALL or (rule == COORDINATORS and user.is_coordinator)


def passkeys(session: DbSession, user: User) -> list[PasskeyCredential]:
    query = (
        select(PasskeyCredential)
        .where(PasskeyCredential.user_id == user.id)
        .order_by(PasskeyCredential.id)
    )
    return list(session.scalars(query))


def has_passkey(session: DbSession, user: User) -> bool:
    query = select(func.count()).where(PasskeyCredential.user_id == user.id)
    return bool(session.scalar(query))


def has_totp(user: User) -> bool:
    return user.totp_confirmed_at is not None and bool(user.totp_secret)


def has_second_step(session: DbSession, user: User) -> bool:
    """A code app or a passkey (recovery codes alone are not a second step)."""
    return has_totp(user) or has_passkey(session, user)


def must_set_up(session: DbSession, user: User, settings: Settings) -> bool:
    """Required of this account, and it has none yet: it may open nothing but the setup."""
    return required(user, settings) and not has_second_step(session, user)


# --- the code app (TOTP) ----------------------------------------------------------------------


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, user: User) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str, title: str) -> str:
    """The QR code of `uri` as an inline SVG (made here: no request leaves the page)."""
    svg: str = segno.make(uri, error="m").svg_inline(
        scale=5, border=2, title=title, svgclass="qr-code", light="#ffffff", omitsize=False
    )
    return svg


def _clean_digits(code: str) -> str:
    return "".join(code.split())


def _accepted_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step `code` belongs to (now or the window before), if not used yet."""
    code = _clean_digits(code)
    if len(code) != 6 or not code.isascii() or not code.isdigit() or not secret:
        return None
    now_step = int(datetime.now(UTC).timestamp()) // STEP_SECONDS
    totp = pyotp.TOTP(secret)
    for step in (now_step, now_step - 1):
        if last_step is not None and step <= last_step:
            continue  # this window's code (or an older one) was already accepted
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def confirm_totp(session: DbSession, user: User, secret: str, code: str) -> list[str] | None:
    """The code app is set up when its first code is right: None if not. Returns the new
    recovery codes when the account had none (shown once), else an empty list."""
    step = _accepted_step(secret, code, None)
    if step is None:
        return None
    user.totp_secret = secret
    user.totp_confirmed_at = clock.now()
    user.totp_last_step = step
    session.flush()
    audit(session, user, "two_step.setup", user, method="totp")
    return _first_recovery_codes(session, user)


def verify_totp(session: DbSession, user: User, code: str) -> bool:
    """A code of the user's code app, accepted once."""
    if not has_totp(user):
        return False
    step = _accepted_step(user.totp_secret, code, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    session.flush()
    return True


def remove_totp(session: DbSession, user: User, settings: Settings) -> None:
    _refuse_last(session, user, settings, keeping=has_passkey(session, user))
    user.totp_secret = ""
    user.totp_confirmed_at = None
    user.totp_last_step = None
    session.flush()
    audit(session, user, "two_step.remove", user, method="totp")
    _forget_codes_if_none_left(session, user)


# --- recovery codes ---------------------------------------------------------------------------


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise_code(code: str) -> str:
    """What was typed, without spaces, dashes or case."""
    return "".join(c for c in code.lower() if c.isalnum())


def new_recovery_codes(session: DbSession, user: User) -> list[str]:
    """Ten fresh codes; the old ones stop working. Shown once: only their hash is kept."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _index in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
        session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw)))
    session.flush()
    audit(session, user, "two_step.recovery_codes", user)
    return codes


def recovery_codes_left(session: DbSession, user: User) -> int:
    query = select(func.count()).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(query) or 0)


def _first_recovery_codes(session: DbSession, user: User) -> list[str]:
    exists = select(func.count()).where(RecoveryCode.user_id == user.id)
    return [] if session.scalar(exists) else new_recovery_codes(session, user)


def use_recovery_code(session: DbSession, user: User, code: str) -> bool:
    """A recovery code not used yet: it is spent now (audited)."""
    cleaned = normalise_code(code)
    if len(cleaned) != RECOVERY_LENGTH:
        return False
    query = select(RecoveryCode).where(
        RecoveryCode.user_id == user.id,
        RecoveryCode.code_hash == _digest(cleaned),
        RecoveryCode.used_at.is_(None),
    )
    found = session.scalars(query.with_for_update()).first()
    if found is None:
        return False
    found.used_at = clock.now()
    session.flush()
    audit(
        session, user, "two_step.recovery_code_used", user, left=recovery_codes_left(session, user)
    )
    return True


def _forget_codes_if_none_left(session: DbSession, user: User) -> None:
    if not has_second_step(session, user):
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        session.flush()


# --- passkeys (WebAuthn) ----------------------------------------------------------------------


def rp_id(settings: Settings) -> str:
    """The relying party: BASE_URL's host name."""
    return urlsplit(settings.base_url).hostname or "localhost"


def origin(settings: Settings) -> str:
    parts = urlsplit(settings.base_url)
    return f"{parts.scheme}://{parts.netloc}"


def _descriptors(session: DbSession, user: User) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=_from_b64(p.credential_id))
        for p in passkeys(session, user)
    ]


def _from_b64(value: str) -> bytes:
    return base64url_to_bytes(value)


@dataclass(frozen=True)
class Ceremony:
    """The options a browser's WebAuthn call takes (JSON) and the challenge to keep."""

    options: str
    challenge: str  # base64url, kept in the session until the answer comes


def registration_options(session: DbSession, user: User, settings: Settings) -> Ceremony:
    options = generate_registration_options(
        rp_id=rp_id(settings),
        rp_name=ISSUER,
        user_name=user.email,
        user_id=f"barometre-user-{user.id}".encode(),
        user_display_name=user.name or user.email,
        exclude_credentials=_descriptors(session, user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))


def add_passkey(
    session: DbSession,
    user: User,
    settings: Settings,
    credential: dict[str, Any] | str,
    challenge: str,
    name: str,
) -> tuple[PasskeyCredential, list[str]]:
    """Keep the public key of a passkey the browser just made; PasskeyRefused if its answer
    does not verify. Returns it and the new recovery codes when the account had none."""
    if len(passkeys(session, user)) >= MAX_PASSKEYS:
        raise ValidationFailed({"name": [_("Dix clés d'accès au plus par compte.")]})
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=_from_b64(challenge),
            expected_rp_id=rp_id(settings),
            expected_origin=origin(settings),
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise PasskeyRefused(str(error)) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    taken = select(func.count()).where(PasskeyCredential.credential_id == credential_id)
    if session.scalar(taken):
        raise PasskeyRefused("credential already registered")
    passkey = PasskeyCredential(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name.strip()[:100] or _("Clé d'accès"),
        created_at=clock.now(),
    )
    session.add(passkey)
    session.flush()
    audit(session, user, "passkey.add", user, passkey=passkey.id, name=passkey.name)
    return passkey, _first_recovery_codes(session, user)


def authentication_options(session: DbSession, user: User, settings: Settings) -> Ceremony:
    options = generate_authentication_options(
        rp_id=rp_id(settings),
        allow_credentials=_descriptors(session, user),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))


def verify_passkey(
    session: DbSession,
    user: User,
    settings: Settings,
    credential: dict[str, Any] | str,
    challenge: str,
) -> PasskeyCredential:
    """The passkey of `user` that signed this challenge; PasskeyRefused otherwise."""
    try:
        data = json.loads(credential) if isinstance(credential, str) else credential
        raw_id = str(data["rawId"] if "rawId" in data else data["id"])
    except (ValueError, KeyError, TypeError):
        raise PasskeyRefused("unreadable answer") from None
    query = select(PasskeyCredential).where(
        PasskeyCredential.user_id == user.id, PasskeyCredential.credential_id == raw_id
    )
    passkey = session.scalars(query).first()
    if passkey is None:
        raise PasskeyRefused("unknown credential")
    try:
        verified = verify_authentication_response(
            credential=data,
            expected_challenge=_from_b64(challenge),
            expected_rp_id=rp_id(settings),
            expected_origin=origin(settings),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise PasskeyRefused(str(error)) from None
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = clock.now()
    session.flush()
    return passkey


def remove_passkey(
    session: DbSession, user: User, passkey: PasskeyCredential, settings: Settings
) -> None:
    others = [p for p in passkeys(session, user) if p.id != passkey.id]
    _refuse_last(session, user, settings, keeping=has_totp(user) or bool(others))
    session.delete(passkey)
    session.flush()
    audit(session, user, "passkey.remove", user, passkey=passkey.id, name=passkey.name)
    _forget_codes_if_none_left(session, user)


# --- turning it off, resetting ----------------------------------------------------------------


def _refuse_last(session: DbSession, user: User, settings: Settings, keeping: bool) -> None:
    if not keeping and required(user, settings):
        refused = _(
            "La deuxième étape est obligatoire pour votre compte : "
            "ajoutez-en une autre avant de retirer celle-ci."
        )
        raise ValidationFailed({"two_step": [refused]})


def _remove_everything(session: DbSession, user: User) -> dict[str, int]:
    removed = {
        "totp": int(has_totp(user)),
        "passkeys": len(passkeys(session, user)),
        "recovery_codes": recovery_codes_left(session, user),
    }
    user.totp_secret = ""
    user.totp_confirmed_at = None
    user.totp_last_step = None
    session.execute(delete(PasskeyCredential).where(PasskeyCredential.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()
    return removed


def disable(session: DbSession, user: User, settings: Settings) -> None:
    """The account holder turns their second step off (refused where it is required)."""
    _refuse_last(session, user, settings, keeping=False)
    removed = _remove_everything(session, user)
    audit(session, user, "two_step.remove", user, method="all", **removed)


def reset(session: DbSession, actor: User | None, user: User) -> dict[str, int]:
    """`users reset-two-step`: everything removed, audited, the account holder told by email
    (its row recorded in this transaction, sent after commit). Their next sign-in asks
    them to set up a new second step where it is required."""
    removed = _remove_everything(session, user)
    audit(session, actor, "two_step.reset", user, **removed)
    signals.account_email_wanted.send(session, user=user, purpose=RESET_EMAIL, language=None)
    return removed
