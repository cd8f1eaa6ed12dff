"""The barometer pages by role: aggregates for anonymous, condition wording when signed in.

SPEC §4: anonymous visitors see levels, counts by category and offer type, and
history; never report text, authors or services.
"""

from __future__ import annotations

import html
import re
from typing import Any
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from barometre.extensions import db
from barometre.models import Condition, Establishment, User
from tests.conftest import file_report, login, make_user

SECRET_TEXT = "Texte-confidentiel-du-signalement-7731"
SECRET_SERVICE = "Service-Secret-Unique-4410"
AUTHOR_NAME = "Camille Exemple"  # make_user's name
IND, COLL, CELL = "individuel", "collectif", "cellulaire"
PUBLIC_URLS = (
    "/",
    "/etablissements/haren",
    "/badge/haren.svg",
    "/feed.atom",
    "/api/v1/establishments",
    "/api/v1/establishments/haren",
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


@pytest.fixture
def author(app: Any) -> User:
    return make_user(email="auteur.secret@example.org", service=SECRET_SERVICE)


def html_of(client: FlaskClient, url: str) -> str:
    return html.unescape(client.get(url).get_data(as_text=True))


def wording(code: str) -> str:
    condition = db.session.scalar(select(Condition).where(Condition.code == code))
    assert condition is not None
    return condition.label_fr


def haren() -> Establishment:
    row = db.session.scalar(select(Establishment).where(Establishment.slug == "haren"))
    assert row is not None
    return row


def five_on_one_type(author: User) -> None:
    for code in ("ACC-01", "ACC-02", "ACC-03", "SEC-01", "SEC-02"):
        file_report(author, conditions=(code,), offer_types=(IND,), description=SECRET_TEXT)


def test_anonymous_sees_aggregates_only_everywhere(client: FlaskClient, author: User) -> None:
    five_on_one_type(author)
    for url in PUBLIC_URLS:
        response = client.get(url)
        assert response.status_code == 200, url
        text = html.unescape(response.get_data(as_text=True))
        for secret in (SECRET_TEXT, SECRET_SERVICE, AUTHOR_NAME, author.email):
            assert secret not in text, (url, secret)
        if url in ("/", "/etablissements/haren"):
            assert wording("SEC-01") not in text  # condition wording is for signed-in users


def test_card_shows_level_in_words_shape_gauge_and_red_pending(
    client: FlaskClient, author: User
) -> None:
    five_on_one_type(author)
    page = html_of(client, "/")
    card = page.split('id="etablissement-haren"')[1].split('id="etablissement-')[0]
    assert 'data-colour="orange" data-step="5"' in page
    assert "Code orange 5 sur 5" in card and "(symbole en forme de triangle)" in card
    assert card.count('class="pos ') == 7 and 'class="pos pos-orange current"' in card
    assert "Diversité des types d'offre\xa0: 1/3" in card
    pending = (
        "Rouge en attente\xa0: il faut des situations touchant au moins 2 types d'offre"
        " (manque\xa0: collectif, cellulaire)."
    )
    assert pending in card and "bloqué" not in card
    # Still orange: the orange shape and the orange mark, never the red square.
    paragraph = card.split('<p class="red-pending">')[1].split("</p>")[0]
    assert 'class="fill-orange"' in paragraph and "fill-rouge" not in paragraph
    assert "5 situations problématiques ouvertes" in card
    assert "Dernier changement de niveau" in card


@pytest.mark.parametrize(
    ("language", "named"), [("nl", "(symbool: driehoek)"), ("en", "(triangle symbol)")]
)
def test_the_shape_is_named_in_the_reader_language(
    client: FlaskClient, author: User, language: str, named: str
) -> None:
    five_on_one_type(author)
    page = html.unescape(
        client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)
    )
    assert named in page and "forme" not in page and "symbole" not in page


@pytest.mark.parametrize(
    ("settings_overrides", "at_least"),
    [({"public_barometer": True, "red_min_offer_types": 3}, "au moins 3 types d'offre")],
)
def test_red_pending_says_the_configured_number_of_offer_types(
    client: FlaskClient, author: User, at_least: str
) -> None:
    five_on_one_type(author)
    file_report(author, conditions=("OFF-01",), offer_types=(COLL,))
    page = html_of(client, "/etablissements/haren")
    assert f"Rouge en attente\xa0: il faut des situations touchant {at_least}" in page
    assert "(manque\xa0: cellulaire)." in page


def test_breakdown_counts_by_category_and_step_by_offer_type(
    client: FlaskClient, author: User
) -> None:
    """Per category, counts only (the source gives a category no colour); per offer type,
    its count and its colour (R13)."""
    five_on_one_type(author)
    file_report(author, conditions=("OFF-01",), offer_types=(COLL,))
    page = html_of(client, "/etablissements/haren")
    assert "Code rouge" in page and "(symbole en forme de carré)" in page
    assert "Palier" not in page
    counted = r"<tr><th scope=\"row\">([^<]+)</th><td>(\d+)</td></tr>"
    categories = dict(re.findall(counted, page))
    assert categories == {
        "Accessibilité": "3",
        "Sécurité": "2",
        "Offre de services": "1",
        "Considération-reconnaissance-respect": "0",
    }
    pattern = r"<tr><th scope=\"row\">([^<]+)</th><td>(\d+)</td><td>([^<]+)</td>"
    rows = {label: (count, step) for label, count, step in re.findall(pattern, page)}
    assert rows["Individuel"] == ("5", "orange 5") and rows["Collectif"] == ("1", "orange 1")
    assert rows["Cellulaire"] == ("0", "vert")


def test_signed_in_users_see_condition_wording_not_text(client: FlaskClient, author: User) -> None:
    file_report(author, conditions=("SEC-01",), description=SECRET_TEXT)
    reader = make_user(email="lectrice@example.org", service="Autre service")
    login(client, reader)
    for url in ("/", "/etablissements/haren"):
        text = html_of(client, url)
        assert wording("SEC-01") in text
        assert SECRET_TEXT not in text and SECRET_SERVICE not in text and author.email not in text


def test_committee_note_is_public(client: FlaskClient) -> None:
    haren().committee_note = "vert, avec une alerte sur les temps d'attente"
    db.session.commit()
    for url in ("/", "/etablissements/haren"):
        assert "avec une alerte sur les temps d'attente" in html_of(client, url)


def test_establishment_page_lists_open_and_recently_closed(
    client: FlaskClient, author: User, coordinator: User
) -> None:
    from barometre import services

    file_report(author, conditions=("SEC-01",), offer_types=(IND, COLL))
    file_report(author, conditions=("SEC-01",), offer_types=(CELL,))
    outcome = file_report(author, conditions=("ACC-02",))
    services.resolve_situation(
        db.session,
        outcome.new_situations[0].id,
        coordinator,
        "Réglé avec la direction",
        client.application.config["SETTINGS"],
    )
    db.session.commit()
    anonymous = html_of(client, "/etablissements/haren")
    assert "Types d'offre\xa0: individuel, collectif, cellulaire" in anonymous
    assert "2 signalements" in anonymous
    assert "Résolue" in anonymous and "Réglé avec la direction" not in anonymous
    login(client, author)
    signed = html_of(client, "/etablissements/haren")
    assert wording("ACC-02") in signed and "Résolue" in signed
    # The resolution note is the coordinators' own: no worker of any service sees it.
    assert "Réglé avec la direction" not in signed
    login(client, make_user(service="Service B"))
    assert "Réglé avec la direction" not in html_of(client, "/etablissements/haren")
    login(client, coordinator)
    assert "Réglé avec la direction" in html_of(client, "/etablissements/haren")


def test_codes_page_is_generated_from_data_and_settings(
    client: FlaskClient, settings_overrides: dict[str, Any]
) -> None:
    page = html_of(client, "/codes")
    assert "Explication des codes" in page and "Les bonnes conditions de travail en prison" in page
    for code in ("ACC-01", "SEC-04", "OFF-08", "CON-04"):
        assert code in page
    assert "(DECT, talkie-walkie, bouton d'alarme qui fonctionne)" in page
    assert "Exemples\xa0: tuberculose (TBC)" in page
    assert "Activé à partir de 5 situations" in page and "au moins 2 des 3 types" in page
    assert "«\xa0Rouge en attente\xa0» avec les types d'offre qui manquent" in page
    assert "bloqué par la diversité" not in page
    for label in ("Individuel", "Collectif", "Cellulaire", "Considération-reconnaissance-respect"):
        assert label in page


@pytest.mark.parametrize(
    "settings_overrides",
    [{"public_barometer": False, "red_threshold": 4, "red_min_offer_types": 3}],
)
def test_codes_page_shows_configured_thresholds_even_when_private(client: FlaskClient) -> None:
    page = html_of(client, "/codes")
    assert "Activé à partir de 4 situations" in page and "au moins 3 des 3 types" in page


def test_badge_is_svg_with_alt_text(client: FlaskClient, author: User) -> None:
    file_report(author)
    response = client.get("/badge/haren.svg")
    assert response.mimetype == "image/svg+xml"
    svg = ElementTree.fromstring(response.data)  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "Prison de Haren\xa0: Code orange 1 sur 5"
    assert svg.find(f"{ns}title").text == "Prison de Haren\xa0: Code orange 1 sur 5"  # type: ignore[union-attr]
    texts = [t.text for t in svg.iter(f"{ns}text")]
    assert texts == ["Prison de Haren", "orange 1/5"]
    assert client.get("/badge/inconnue.svg").status_code == 404


def test_feed_lists_level_changes_as_atom(client: FlaskClient, author: User) -> None:
    file_report(author)
    file_report(author, conditions=("ACC-01",))
    response = client.get("/feed.atom")
    assert response.mimetype == "application/atom+xml"
    feed = ElementTree.fromstring(response.data)  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2005/Atom}"
    titles = [e.findtext(f"{ns}title") for e in feed.findall(f"{ns}entry")]
    assert titles == [
        "Prison de Haren\xa0: Code orange 2 sur 5",
        "Prison de Haren\xa0: Code orange 1 sur 5",
    ]
    assert feed.findtext(f"{ns}id") and feed.findtext(f"{ns}updated")
    links = [e.find(f"{ns}link").get("href") for e in feed.findall(f"{ns}entry")]  # type: ignore[union-attr]
    assert all(link.endswith("/etablissements/haren") for link in links)  # type: ignore[union-attr]


def test_each_establishment_has_a_feed_of_its_own(client: FlaskClient, author: User) -> None:
    file_report(author)
    file_report(author, establishment="saint-gilles", conditions=("ACC-01",))
    file_report(author, conditions=("ACC-02",))
    ns = "{http://www.w3.org/2005/Atom}"

    def entries(path: str) -> tuple[ElementTree.Element, list[str]]:
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "application/atom+xml"
        feed = ElementTree.fromstring(response.data)  # noqa: S314 - our own output
        return feed, [e.findtext(f"{ns}title") or "" for e in feed.findall(f"{ns}entry")]

    feed, titles = entries("/etablissements/haren/feed.atom")
    assert titles == [
        "Prison de Haren\xa0: Code orange 2 sur 5",
        "Prison de Haren\xa0: Code orange 1 sur 5",
    ]
    assert (feed.findtext(f"{ns}id") or "").endswith("/etablissements/haren/feed.atom")
    title = feed.findtext(f"{ns}title") or ""
    assert title.endswith("changements de niveau de la prison de Haren")  # its article
    _feed, others = entries("/etablissements/saint-gilles/feed.atom")
    assert len(others) == 1 and "Saint-Gilles" in others[0]
    _feed, every = entries("/feed.atom")
    assert len(every) == 3  # the global feed keeps every establishment
    page = client.get("/etablissements/haren").get_data(as_text=True)
    assert 'href="/etablissements/haren/feed.atom"' in page
    assert client.get("/etablissements/inconnue/feed.atom").status_code == 404


def card_text(client: FlaskClient, slug: str) -> str:
    page = client.get("/").get_data(as_text=True)
    card = re.search(
        rf'<li class="card[^"]*" id="etablissement-{slug}".*?</li>\s*</ul>|'
        rf'<li class="card[^"]*" id="etablissement-{slug}".*?(?=<li class="card)',
        page,
        re.S,
    )
    assert card is not None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card.group(0))).split())


def test_each_card_says_how_long_and_the_trend_of_the_week(
    client: FlaskClient, author: User
) -> None:
    with freeze_time("2026-11-10 09:00:00"):
        file_report(author, conditions=("SEC-01",))  # vert -> orange 1
    with freeze_time("2026-11-27 15:00:00"):
        file_report(author, conditions=("ACC-01",))  # orange 1 -> orange 2
    with freeze_time("2026-11-30 12:00:00"):
        haren = card_text(client, "haren")
        assert "À ce niveau depuis 3 jours" in haren
        assert "↗ plus haut qu'il y a 7 jours (Code orange 1 sur 5)" in haren
        never = card_text(client, "saint-gilles")
        assert "À ce niveau depuis le début des relevés" in never
        assert "= comme il y a 7 jours" in never
    with freeze_time("2026-12-05 12:00:00"):  # another day: the kept cards are not reused
        haren = card_text(client, "haren")
        assert "À ce niveau depuis 8 jours" in haren and "= comme il y a 7 jours" in haren


def test_inactive_establishment_leaves_the_barometer(client: FlaskClient) -> None:
    haren().active = False
    db.session.commit()
    assert "Prison de Haren" not in client.get("/").get_data(as_text=True)
    assert client.get("/etablissements/haren").status_code == 404
    assert client.get("/badge/haren.svg").status_code == 404


def test_pages_fit_a_phone(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    css = client.get("/static/pages.css").get_data(as_text=True)
    assert "@media (max-width: 40rem)" in css and ".table-scroll { overflow-x: auto" in css


# --- what browsers and search engines ask of every page (issue 26) -------------------------


@pytest.mark.parametrize(
    "settings_overrides", [{"public_barometer": True}, {"public_barometer": False}]
)
def test_the_favicon_answers_where_browsers_look(client: FlaskClient) -> None:
    """The SVG the pages link to, and /favicon.ico, which browsers ask for anyway (a 404
    there is a fault for Lighthouse), even on a private barometer's sign-in page."""
    page = client.get("/connexion").get_data(as_text=True)
    linked = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert linked is not None
    icon = client.get(linked.group(1))
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    svg = ElementTree.fromstring(icon.data)  # noqa: S314 - our own file
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 32 32"
    fallback = client.get("/favicon.ico")
    assert fallback.status_code == 200
    assert fallback.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert fallback.data[:4] == b"\x00\x00\x01\x00"  # an ICO file, its images PNG
    assert b"\x89PNG" in fallback.data
    assert fallback.headers["X-Content-Type-Options"] == "nosniff"


def page_in(client: FlaskClient, url: str, lang: str) -> str:
    """A page as a browser asking for `lang` gets it (its own app context, as in production)."""
    with client.application.app_context():
        return client.get(url, headers={"Accept-Language": lang}).get_data(as_text=True)


def description_of(page: str) -> str | None:
    found = re.findall(r'<meta name="description" content="([^"]*)">', page)
    assert len(found) <= 1
    return html.unescape(found[0]) if found else None


PUBLIC_PAGES = ("/", "/etablissements/haren", "/codes", "/coordination/donnees")


def test_public_pages_describe_themselves_in_the_page_language(
    client: FlaskClient, coordinator: User
) -> None:
    login(client, coordinator)  # the data page is the coordinators'
    said: dict[str, dict[str, str | None]] = {}
    for lang in ("fr", "nl", "en"):
        said[lang] = {url: description_of(page_in(client, url, lang)) for url in PUBLIC_PAGES}
    for url in PUBLIC_PAGES:
        french = said["fr"][url]
        assert french and len(french) >= 50 and "Fidex" in french, url
        assert said["nl"][url] and said["nl"][url] != french, url
        assert said["en"][url] and said["en"][url] not in (french, said["nl"][url]), url
    assert "Le niveau de la prison de Haren" in str(said["fr"]["/etablissements/haren"])
    assert "Haren Prison" in str(said["en"]["/etablissements/haren"])  # its English name
    assert description_of(page_in(client, "/mes-signalements", "fr")) is None  # not public
