"""Following one establishment (issue 19): requests, confirmation links, stopping, erasure.

An address asks to follow an establishment (`FollowRequest`); a confirmation
email (`alerts.follow.emails`) carries a signed link, valid `FOLLOW_LINK_HOURS`;
following it makes the address a `Follower`, a recipient like a contact.
Nothing else is ever sent to an unconfirmed address. A follower with nothing
left to receive is deleted; an unconfirmed request is erased once its link has
expired (`purge`, run with the core's retention purge: `signals.retention_due`).

Requests are throttled per mailbox (`addresses.mailbox`: case and a `+tag`
folded, dots kept) and per client (a keyed hash of the client's network
address, never the address itself), counted from the request rows. The
address itself is stored as typed (lower-cased): `someone+1@…` follows apart
from `someone@…`, with its own links and choices. Services take the session, flush, never commit.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select

from alerts import handoff
from alerts.events import new_notification
from alerts.models import FOLLOW, TO_FOLLOWER, Notification, NotificationState
from alerts.recipients import Recipient
from barometre import clock
from barometre.addresses import address_key, mailbox
from barometre.extensions import DbSession
from barometre.models import Establishment, User
from barometre.privacy import Holding
from barometre.retention import Erased
from barometre.services import audit
from barometre.settings import Settings
from barometre.signed_links import IssuedAtSigner, LinkProblem

from .models import Follower, FollowRequest

FOLLOW_SALT = "barometre.follow"  # from the module's first home; links signed with it stay valid
FOLLOW_LINK_HOURS = 48
THROTTLE_WINDOW = timedelta(hours=1)
MAX_PER_ADDRESS = 3
MAX_PER_CLIENT = 10

# What a follower receives (the form's choice of alerts).
ALERTS_ALL = "toutes"
ALERTS_RED = "rouge"
ALERTS_NONE = "aucune"


@dataclass(frozen=True)
class Choice:
    """What an address asked to receive about one establishment."""

    alerts: bool
    red_only: bool
    digest: bool

    @classmethod
    def from_form(cls, alerts: str, digest: bool) -> Choice:
        return cls(alerts in (ALERTS_ALL, ALERTS_RED), alerts == ALERTS_RED, digest)

    @property
    def anything(self) -> bool:
        return self.alerts or self.digest


def client_key(remote: str, settings: Settings) -> str:
    """A keyed hash of the client's network address: enough to count, useless to read."""
    digest = hmac.new(settings.secret_key.encode(), remote.encode(), hashlib.sha256)
    return digest.hexdigest()


# --- throttling and requests ----------------------------------------------------------------


def throttled(session: DbSession, address: str, client: str) -> bool:
    """Too many requests lately for this mailbox (`someone+1@…` is `someone@…`), or from
    this client."""
    since = clock.now() - THROTTLE_WINDOW
    from_client = session.scalar(
        select(func.count()).where(
            FollowRequest.client == client, FollowRequest.requested_at > since
        )
    )
    if (from_client or 0) >= MAX_PER_CLIENT:
        return True
    return _mailbox_requests(session, address, since) >= MAX_PER_ADDRESS


def _mailbox_requests(session: DbSession, address: str, since: datetime) -> int:
    """Requests for the address's mailbox since then: the rows are narrowed by SQL (the
    mailbox's letters begin the local part, its domain ends the address), counted by
    `mailbox` itself, so that one definition decides."""
    wanted = mailbox(address)
    local, _, domain = wanted.rpartition("@")
    pattern = f"{_like(local)}%@{_like(domain)}"
    rows = session.scalars(
        select(FollowRequest.email).where(
            FollowRequest.email.like(pattern, escape="\\"), FollowRequest.requested_at > since
        )
    )
    return sum(1 for email in rows if mailbox(email) == wanted)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def add_request(
    session: DbSession,
    establishment_id: int,
    address: str,
    language: str,
    choice: Choice,
    client: str,
) -> FollowRequest:
    """Record a request, whether the address already follows or not (the same answer)."""
    row = FollowRequest(
        establishment_id=establishment_id,
        email=address_key(address),
        language=language,
        alerts=choice.alerts,
        red_only=choice.red_only,
        digest=choice.digest,
        requested_at=clock.now(),
        client=client,
    )
    session.add(row)
    session.flush()
    return row


def request_follow(
    session: DbSession,
    establishment: Establishment,
    address: str,
    language: str,
    choice: Choice,
    client: str,
) -> Notification:
    """Record the request and its confirmation email, sent once the transaction commits."""
    request = add_request(session, establishment.id, address, language, choice, client)
    row = new_notification(FOLLOW, Recipient(address, language, TO_FOLLOWER), clock.now())
    row.follow_request_id = request.id
    session.add(row)
    session.flush()
    if row.state == NotificationState.PENDING:
        handoff.after_commit(session, [row.id])
    return row


# --- confirmation links -----------------------------------------------------------------------


def _serializer(settings: Settings, issued_at: datetime | None = None) -> URLSafeTimedSerializer:
    stamp = None if issued_at is None else calendar.timegm(issued_at.utctimetuple())
    return URLSafeTimedSerializer(
        settings.secret_key,
        salt=FOLLOW_SALT,
        signer=IssuedAtSigner,
        signer_kwargs={"issued_at": stamp},
    )


def follow_token(request: FollowRequest, settings: Settings) -> str:
    """Dated by the request: every copy and retry of its email carries the same link."""
    return str(_serializer(settings, request.requested_at).dumps([request.id, request.email]))


def check_follow_token(token: str, settings: Settings) -> tuple[int, str] | LinkProblem:
    """(request id, address) of a valid link, else why it does not open."""
    return _read_token(token, settings, FOLLOW_LINK_HOURS * 3600)


def _read_token(
    token: str, settings: Settings, max_age: int | None
) -> tuple[int, str] | LinkProblem:
    try:
        value = _serializer(settings).loads(token, max_age=max_age)
    except SignatureExpired:
        return LinkProblem.EXPIRED
    except BadSignature:
        return LinkProblem.INVALID
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and isinstance(value[1], str)
    )
    return (value[0], value[1]) if valid else LinkProblem.INVALID


def follow_of_link(
    session: DbSession, token: str, slug: str, settings: Settings
) -> Follower | None:
    """The follow a used (or expired) confirmation link leads to: its address following the
    establishment of `slug`. The signature proves the address, whatever the link's age."""
    read = _read_token(token, settings, max_age=None)
    if isinstance(read, LinkProblem):
        return None
    query = (
        select(Follower)
        .join(Follower.establishment)
        .where(Establishment.slug == slug, Follower.email == address_key(read[1]))
    )
    return session.scalar(query)


def pending_request(session: DbSession, request_id: int, address: str) -> FollowRequest | None:
    row = session.get(FollowRequest, request_id)
    return row if row is not None and row.email == address_key(address) else None


def confirm(session: DbSession, request: FollowRequest) -> Follower:
    """The address followed its link: it follows, with the choice of this request."""
    follower = session.scalar(
        select(Follower).where(
            Follower.establishment_id == request.establishment_id,
            Follower.email == request.email,
        )
    )
    if follower is None:
        follower = Follower(establishment_id=request.establishment_id, email=request.email)
        session.add(follower)
    follower.language = request.language
    follower.alerts, follower.red_only = request.alerts, request.red_only
    follower.digest = request.digest
    follower.confirmed_at = clock.now()
    session.delete(request)
    session.flush()
    return follower


# --- stopping ---------------------------------------------------------------------------------


def follows(session: DbSession, address: str) -> list[Follower]:
    query = select(Follower).where(Follower.email == address_key(address)).order_by(Follower.id)
    return list(session.scalars(query))


def stop(
    session: DbSession,
    address: str,
    alerts: bool,
    digest: bool,
    establishment_ids: Collection[int] | None = None,
) -> int:
    """The address stops alerts and/or digests of what it follows (only of these
    establishments when given); its follows with nothing left, and its unconfirmed requests
    (for these establishments), are deleted. Returns the follows deleted."""
    deleted = 0
    for follower in follows(session, address):
        if establishment_ids is not None and follower.establishment_id not in establishment_ids:
            continue
        if alerts:
            follower.alerts = follower.red_only = False
        if digest:
            follower.digest = False
        if not (follower.alerts or follower.digest):
            session.delete(follower)
            deleted += 1
    requests = delete(FollowRequest).where(FollowRequest.email == address_key(address))
    if establishment_ids is not None:
        requests = requests.where(FollowRequest.establishment_id.in_(establishment_ids))
    session.execute(requests)
    session.flush()
    return deleted


def remove(session: DbSession, actor: User | None, follower: Follower) -> None:
    """A coordinator removes a follower (audited, without its address)."""
    audit(session, actor, "follower.remove", follower, establishment_id=follower.establishment_id)
    session.delete(follower)
    session.flush()


# --- retention --------------------------------------------------------------------------------


def request_cutoff() -> datetime:
    """Requests made before this moment have an expired link."""
    return clock.now() - timedelta(hours=FOLLOW_LINK_HOURS)


def purge(session: DbSession, settings: Settings) -> list[Erased]:
    """The receiver of `signals.retention_due`: erase expired requests and followers with
    nothing left."""
    requests: Any = session.execute(
        delete(FollowRequest).where(FollowRequest.requested_at < request_cutoff())
    )
    followers: Any = session.execute(
        delete(Follower).where(Follower.alerts.is_(False), Follower.digest.is_(False))
    )
    return [
        Erased("follow_requests", requests.rowcount or 0, "demandes de suivi expirées effacées"),
        Erased("followers", followers.rowcount or 0, "abonnés sans envoi effacés"),
    ]


def holdings(session: DbSession) -> list[Holding]:
    """The receiver of `signals.holdings_asked`: what following keeps, for how long."""
    return [
        Holding(
            str(_l("Personnes qui suivent un établissement (adresse électronique, langue, choix)")),
            str(_l("La coordination")),
            str(
                _l("Jusqu'à ce qu'elles arrêtent de le suivre (effacées aussitôt) ou leur retrait")
            ),
            _count(session, Follower),
        ),
        Holding(
            str(_l("Demandes de suivi non confirmées (adresse électronique, langue, choix)")),
            str(_l("Personne")),
            str(
                _l(
                    "%(hours)d heures (durée du lien de confirmation), puis effacées",
                    hours=FOLLOW_LINK_HOURS,
                )
            ),
            _count(session, FollowRequest),
        ),
    ]


def _count(session: DbSession, model: type[Follower] | type[FollowRequest]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0
