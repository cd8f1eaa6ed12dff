"""`flask --app barometre channels add|list|remove|test` (issue 30)."""

from __future__ import annotations

import click
from sqlalchemy import select

from barometre.console import admin
from barometre.extensions import db
from barometre.languages import DEFAULT_LANGUAGE, LANGUAGES
from barometre.models import Establishment
from barometre.settings import current as settings

from . import service
from .models import ChannelKind
from .targets import ChannelRefused

channels_group = click.Group(
    "channels", help="Canaux webhook et messagerie des destinataires des alertes."
)


@channels_group.command("add")
@click.argument("url")
@click.option("--establishment", "slug", help="Canal d'un établissement (son slug).")
@click.option("--service", "service_name", help="Canal d'un service membre (son nom).")
@click.option("--committee", is_flag=True, help="Canal du comité : toutes les alertes.")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in ChannelKind]),
    help="webhook (URL http(s)) ou chat (URL Apprise) ; par défaut, selon l'URL.",
)
@click.option("--secret", default="", help="Secret whsec_… d'un webhook ; sinon, un est créé.")
@click.option("--lang", type=click.Choice(LANGUAGES), default=DEFAULT_LANGUAGE, show_default=True)
def add_channel(
    url: str,
    slug: str | None,
    service_name: str | None,
    committee: bool,
    kind: str | None,
    secret: str,
    lang: str,
) -> None:
    """Ajoute un canal : un webhook (URL http(s)) ou une messagerie (URL Apprise)."""
    if sum(map(bool, (slug, service_name, committee))) != 1:
        raise click.UsageError("Indiquez --establishment SLUG, --service NOM ou --committee.")
    establishment_id = service_id = None
    if slug:
        establishment_id = db.session.scalar(
            select(Establishment.id).where(Establishment.slug == slug)
        )
        if establishment_id is None:
            raise click.ClickException(f"Établissement inconnu\xa0: {slug}")
    if service_name:
        found = admin.find_service(db.session, service_name)
        if found is None:
            raise click.ClickException(f"Service inconnu\xa0: {service_name}")
        service_id = found.id
    try:
        added = service.add(
            db.session,
            None,
            settings(),
            url,
            kind=kind or "",
            establishment_id=establishment_id,
            service_id=service_id,
            secret=secret,
            language=lang,
        )
    except ChannelRefused as error:
        db.session.rollback()
        raise click.ClickException(error.reason) from error
    db.session.commit()
    channel = added.channel
    owner = service.owner_words(channel)
    click.echo(f"Canal {channel.id} ajouté ({channel.kind}, {owner})\xa0: {channel.shown}")
    if added.generated_secret:
        click.echo(
            "Secret de signature (affiché une seule fois, à donner au destinataire)\xa0: "
            + added.generated_secret
        )


@channels_group.command("list")
def list_channels() -> None:
    """Liste les canaux (URL masquées), avec leurs derniers envois."""
    channels = service.listing(db.session)
    if not channels:
        click.echo("Aucun canal.")
        return
    states = service.health(db.session, [c.id for c in channels])
    for channel in channels:
        health = states.get(channel.id, service.Health())
        status = health.last_state or "jamais utilisé"
        if health.failed:
            status += f", {health.failed} échec(s) en 7 jours"
        click.echo(
            f"{channel.id}\t{channel.kind}\t{channel.language}\t"
            f"{service.owner_words(channel)}\t{channel.shown}\t{status}"
        )


@channels_group.command("remove")
@click.argument("channel_id", type=int)
def remove_channel(channel_id: int) -> None:
    """Supprime un canal (son URL et son secret sont effacés)."""
    removed = service.remove(db.session, None, channel_id)
    if removed is None:
        raise click.ClickException(f"Canal inconnu\xa0: {channel_id}")
    db.session.commit()
    click.echo(f"Canal {channel_id} supprimé.")


@channels_group.command("test")
@click.argument("channel_id", type=int)
def test_channel(channel_id: int) -> None:
    """Envoie un évènement de test au canal, tout de suite."""
    channel = service.live(db.session, channel_id)
    if channel is None:
        raise click.ClickException(f"Canal inconnu\xa0: {channel_id}")
    try:
        said = service.send_test(db.session, None, channel, settings())
    except ChannelRefused as error:
        db.session.commit()  # the journal keeps the failed test
        raise click.ClickException(error.reason) from error
    db.session.commit()
    click.echo(said)
