"""`flask --app barometre services|contacts|alerts|digest …` commands."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from barometre.addresses import clean_address
from barometre.cli import checked_text
from barometre.extensions import db
from barometre.languages import DEFAULT_LANGUAGE, LANGUAGES
from barometre.models import Contact, Establishment
from barometre.seed import ensure_service
from barometre.services import audit
from barometre.settings import current as settings

from . import digest
from .recipients import key
from .reconcile import reconcile

MAX_NAME = 200


def checked_address(raw: str) -> str:
    address = clean_address(raw)
    if address is None:
        raise click.ClickException(f"Adresse refusée : {raw!r}")
    return address


def checked_name(raw: str) -> str:
    return checked_text(raw, "Nom", MAX_NAME)


services_group = click.Group("services", help="Services membres et leurs adresses d'alerte.")


@services_group.command("add")
@click.argument("name")
@click.option(
    "--email", "emails", multiple=True, required=True, help="Adresse d'alerte (répétable)."
)
def add_service(name: str, emails: tuple[str, ...]) -> None:
    """Crée le service s'il manque et ajoute ses adresses d'alerte."""
    name = checked_name(name)
    if not name:
        raise click.ClickException("Le nom du service est obligatoire.")
    addresses = [checked_address(e) for e in emails]
    service = ensure_service(db.session, name)
    known = list(service.alert_addresses)
    for address in addresses:
        if key(address) not in {key(a) for a in known}:
            known.append(address)
    service.alert_emails = ", ".join(known)
    audit(db.session, None, "service.alert_emails", service, count=len(known))
    db.session.commit()
    click.echo(f"Service {service.name} : {len(known)} adresse(s) d'alerte.")


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
    """Ajoute (ou met à jour) un contact d'établissement."""
    establishment = db.session.scalar(select(Establishment).where(Establishment.slug == slug))
    if establishment is None:
        raise click.ClickException(f"Établissement inconnu : {slug}")
    address = checked_address(email)
    contact = db.session.scalar(
        select(Contact).where(
            Contact.establishment_id == establishment.id, Contact.email == address
        )
    )
    if contact is None:
        contact = Contact(establishment=establishment, email=address)
        db.session.add(contact)
    contact.name = checked_name(name)
    contact.language = lang
    contact.alerts = not no_alerts
    contact.digest = not no_digest
    contact.red_only = red_only
    db.session.flush()
    audit(db.session, None, "contact.save", contact, establishment=slug)
    db.session.commit()
    click.echo(f"Contact {address} enregistré pour {establishment.name}.")


alerts_group = click.Group("alerts", help="Alertes et envois.")


@alerts_group.command("reconcile")
def reconcile_command() -> None:
    """Fait ce qui est dû : groupes d'alertes, nouveaux essais, synthèse manquée, expirations."""
    result = reconcile(db.session, settings())
    db.session.commit()
    click.echo(
        f"Situations expirées : {result.expired} ; envois incertains : {result.uncertain} ; "
        f"groupes envoyés : {result.groups_sent} ; synthèses planifiées : "
        f"{result.digests_planned} ; notifications relancées : {result.requeued}."
    )


digest_group = click.Group("digest", help="Synthèse hebdomadaire.")


@digest_group.command("send")
def send_digest_command() -> None:
    """Envoie la synthèse de cette semaine ISO à qui ne l'a pas encore reçue."""
    week = digest.iso_week_now(settings())
    planned = digest.plan(db.session, settings(), week)
    db.session.commit()
    click.echo(f"Synthèse {week} : {len(planned)} envoi(s) planifié(s).")


def register_cli(app: Flask) -> None:
    for group in (services_group, contacts_group, alerts_group, digest_group):
        app.cli.add_command(group)
