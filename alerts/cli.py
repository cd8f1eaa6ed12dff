"""`flask --app barometre services|contacts|alerts|digest …` commands."""

from __future__ import annotations

import click
from flask import Flask
from flask_babel import ngettext
from sqlalchemy import func, select

from barometre.addresses import address_key
from barometre.cli import checked_address
from barometre.console import admin
from barometre.errors import ValidationFailed
from barometre.extensions import db
from barometre.languages import DEFAULT_LANGUAGE, LANGUAGES
from barometre.models import Contact, Establishment
from barometre.settings import current as settings

from . import digest
from .channels.cli import channels_group
from .reconcile import reconcile


def refused(error: ValidationFailed) -> click.ClickException:
    """The console's French messages, on the command line."""
    messages = [m for field in error.errors.values() for m in field]
    return click.ClickException(" ".join(messages) or "Données invalides.")


services_group = click.Group("services", help="Services membres et leurs adresses d'alerte.")


@services_group.command("add")
@click.argument("name")
@click.option(
    "--email", "emails", multiple=True, required=True, help="Adresse d'alerte (répétable)."
)
def add_service(name: str, emails: tuple[str, ...]) -> None:
    """Crée le service s'il manque et ajoute ses adresses d'alerte (comme la console)."""
    addresses = [checked_address(e) for e in emails]
    existing = admin.find_service(db.session, name)
    try:
        if existing is None:
            service = admin.add_service(db.session, None, name, ", ".join(addresses))
        else:
            known = list(existing.alert_addresses)
            known += [a for a in addresses if address_key(a) not in {address_key(k) for k in known}]
            service = admin.update_service(
                db.session, None, existing.id, existing.name, ", ".join(known), existing.active
            )
    except ValidationFailed as error:
        db.session.rollback()
        raise refused(error) from error
    db.session.commit()
    count = len(service.alert_addresses)
    click.echo(f"Service {service.name}\xa0: {count} adresse{'s' if count > 1 else ''} d'alerte.")


contacts_group = click.Group("contacts", help="Contacts des établissements.")


@contacts_group.command("add")
@click.argument("slug")
@click.argument("email")
@click.option("--name", default="", help="Nom du contact.")
@click.option("--lang", type=click.Choice(LANGUAGES), default=DEFAULT_LANGUAGE, show_default=True)
@click.option("--no-alerts", is_flag=True, help="Pas d'alertes, seulement la synthèse.")
@click.option("--no-digest", is_flag=True, help="Pas de synthèse hebdomadaire.")
@click.option("--red-only", is_flag=True, help="Seulement les alertes rouges.")
def add_contact(
    slug: str, email: str, name: str, lang: str, no_alerts: bool, no_digest: bool, red_only: bool
) -> None:
    """Ajoute (ou met à jour) un contact d'établissement, comme la console."""
    establishment = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    if establishment is None:
        raise click.ClickException(f"Établissement inconnu\xa0: {slug}")
    address = checked_address(email)
    data = admin.ContactData(
        email=address,
        name=name,
        language=lang,
        alerts=not no_alerts,
        digest=not no_digest,
        red_only=red_only,
    )
    existing = db.session.scalar(
        select(Contact.id).where(
            Contact.establishment_id == establishment.id,
            func.lower(Contact.email) == address.lower(),
        )
    )
    try:
        if existing is None:
            admin.add_contact(db.session, None, establishment.id, data)
        else:
            admin.update_contact(db.session, None, existing, data)
    except ValidationFailed as error:
        db.session.rollback()
        raise refused(error) from error
    db.session.commit()
    click.echo(f"Contact {address} enregistré pour {establishment.name}.")


alerts_group = click.Group("alerts", help="Alertes et envois.")


@alerts_group.command("reconcile")
def reconcile_command() -> None:
    """Fait ce qui est dû : groupes d'alertes, rappels de code rouge, nouveaux essais, synthèse
    manquée, expirations."""
    result = reconcile(db.session, settings())
    db.session.commit()
    click.echo(
        f"Situations expirées\xa0: {result.expired}\xa0; "
        f"envois incertains\xa0: {result.uncertain}\xa0; "
        f"groupes envoyés\xa0: {result.groups_sent}\xa0; "
        f"rappels de code rouge\xa0: {result.reminders}\xa0; "
        f"synthèses planifiées\xa0: {result.digests_planned}\xa0; "
        f"notifications relancées\xa0: {result.requeued}."
    )


digest_group = click.Group("digest", help="Synthèse hebdomadaire.")


@digest_group.command("send")
def send_digest_command() -> None:
    """Envoie la synthèse de cette semaine ISO à qui ne l'a pas encore reçue."""
    week = digest.iso_week_now(settings())
    planned = digest.plan(db.session, settings(), week)
    db.session.commit()
    sends = ngettext("%(num)d envoi planifié", "%(num)d envois planifiés", len(planned))
    click.echo(f"Synthèse {week}\xa0: {sends}.")


def register_cli(app: Flask) -> None:
    for group in (services_group, contacts_group, alerts_group, digest_group, channels_group):
        app.cli.add_command(group)
