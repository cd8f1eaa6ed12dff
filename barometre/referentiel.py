"""The référentiel of the source document (seed/barometre-fidex.txt).

Every bullet of "Les bonnes conditions de travail en prison" is one condition
with a stable code. Codes never change and conditions are retired, never
deleted. The French wording is the seed's (typos mended: "unitées", "tous des
objets"); Dutch and English are translations that follow docs/glossary.md.

What the seed puts in brackets is part of the norm when it names what the norm
covers or bounds it ("twix et unités", "sauf si accord contraire", "30 à 45
minutes"): it stays in the label. `examples` holds only examples that the label
does not already give, in the three languages (no French example on a Dutch or
English page). `keywords` help a worker find a condition by the words used on
the ground ("pas de DECT"). `flask seed` writes this wording into existing
databases (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CategoryDef:
    code: str
    fr: str
    nl: str
    en: str


@dataclass(frozen=True)
class ConditionDef:
    code: str
    category: str
    fr: str
    nl: str
    en: str
    examples: str = ""
    keywords: str = ""
    examples_nl: str = ""
    examples_en: str = ""


@dataclass(frozen=True)
class OfferTypeDef:
    code: str
    fr: str
    nl: str
    en: str


CATEGORIES: tuple[CategoryDef, ...] = (
    CategoryDef("ACC", "Accessibilité", "Toegankelijkheid", "Access"),
    CategoryDef("SEC", "Sécurité", "Veiligheid", "Safety and security"),
    CategoryDef("OFF", "Offre de services", "Dienstenaanbod", "Service provision"),
    CategoryDef(
        "CON",
        "Considération-reconnaissance-respect",
        "Waardering, erkenning, respect",
        "Consideration, recognition, respect",
    ),
)

# Worded as docs/glossary.md says (tests/test_glossary.py holds them to it).
OFFER_TYPES: tuple[OfferTypeDef, ...] = (
    OfferTypeDef("individuel", "Individuel", "Individueel", "Individual services"),
    OfferTypeDef("collectif", "Collectif", "Collectief", "Collective services"),
    OfferTypeDef("cellulaire", "Cellulaire", "Op cel", "In-cell services"),
)

_ACCESS_FR = "Les travailleurs des services ont accès "
_ACCESS_NL = "De medewerkers van de diensten hebben toegang tot "
_ACCESS_EN = "Service workers have access to "

CONDITIONS: tuple[ConditionDef, ...] = (
    ConditionDef(
        "ACC-01",
        "ACC",
        _ACCESS_FR + "aux parloirs (twix et unités)",
        _ACCESS_NL + "de bezoekzalen (twix en leefeenheden)",
        _ACCESS_EN + "the visiting rooms (twix and living units)",
        keywords="parloir bezoekzaal visiting room twix unité",
    ),
    ConditionDef(
        "ACC-02",
        "ACC",
        _ACCESS_FR + "aux toilettes",
        _ACCESS_NL + "de toiletten",
        _ACCESS_EN + "the toilets",
        keywords="toilettes wc toilet",
    ),
    ConditionDef(
        "ACC-03",
        "ACC",
        _ACCESS_FR + "aux locaux d'activités",
        _ACCESS_NL + "de activiteitenlokalen",
        _ACCESS_EN + "the activity rooms",
        keywords="local salle activité lokaal",
    ),
    ConditionDef(
        "ACC-04",
        "ACC",
        _ACCESS_FR + "au cellulaire (guichet, locaux d'entretiens, activités)",
        _ACCESS_NL + "de celafdelingen (loket, gesprekslokalen, activiteiten)",
        _ACCESS_EN + "the cell wings (hatch, interview rooms, activities)",
        keywords="cellule aile section vleugel cel guichet",
    ),
    ConditionDef(
        "ACC-05",
        "ACC",
        _ACCESS_FR + "aux lieux utiles aux services "
        "(mess, bureau des communautés, greffe, comptabilité, …)",
        _ACCESS_NL + "de plaatsen die de diensten nodig hebben "
        "(mess, bureau van de gemeenschappen, griffie, boekhouding, …)",
        _ACCESS_EN + "the places the services need "
        "(staff canteen, communities' office, registry, accounts office, …)",
        keywords="mess greffe compta bureau griffie",
    ),
    ConditionDef(
        "ACC-06",
        "ACC",
        "Chaque local d'entretiens ou d'activités comporte le matériel nécessaire "
        "(connexion internet, table, chaises, armoires)",
        "Elk gespreks- of activiteitenlokaal heeft het nodige materiaal "
        "(internetverbinding, tafel, stoelen, kasten)",
        "Every interview or activity room has the equipment needed "
        "(internet connection, table, chairs, cupboards)",
        keywords="matériel wifi internet chaise table armoire materiaal",
    ),
    ConditionDef(
        "ACC-07",
        "ACC",
        "Les détenus ont accès aux travailleurs des services",
        "De gedetineerden hebben toegang tot de medewerkers van de diensten",
        "Detainees have access to the service workers",
        keywords="détenu pas amené gedetineerde",
    ),
    ConditionDef(
        "ACC-08",
        "ACC",
        "Les travailleurs peuvent entrer avec tous les objets qui ne portent pas atteinte "
        "à la sécurité de l'établissement",
        "De medewerkers mogen binnenkomen met alle voorwerpen die de veiligheid van "
        "de gevangenis niet in gevaar brengen",
        "Workers may bring in any object that does not endanger the prison's security",
        keywords="objet matériel refusé entrée voorwerp ordinateur",
    ),
    ConditionDef(
        "ACC-09",
        "ACC",
        "Les travailleurs sont informés sans délai quand l'établissement n'est pas accessible",
        "De medewerkers worden onverwijld verwittigd wanneer de gevangenis niet toegankelijk is",
        "Workers are told without delay when the prison cannot be entered",
        keywords="grève fermeture staking prévenu informé",
    ),
    ConditionDef(
        "ACC-10",
        "ACC",
        "Les détenus sont informés de la fonction du travailleur qui leur rend visite : "
        "service extérieur (nous), avocat, police, …",
        "De gedetineerden worden ingelicht over de functie van wie hen bezoekt: "
        "externe dienst (wij), advocaat, politie, …",
        "Detainees are told the role of whoever visits them: "
        "outside service (us), lawyer, police, …",
        keywords="fonction avocat police functie",
    ),
    ConditionDef(
        "ACC-11",
        "ACC",
        "Les travailleurs ont accès aux plateformes de la justice (Sidis, Justfromcell)",
        "De medewerkers hebben toegang tot de platformen van justitie (Sidis, Justfromcell)",
        "Workers have access to the justice platforms (Sidis, Justfromcell)",
        keywords="sidis justfromcell plateforme platform",
    ),
    ConditionDef(
        "SEC-01",
        "SEC",
        "Les travailleurs peuvent se déplacer librement et en toute sécurité dans "
        "l'établissement, avec les moyens de sécurité propres à chaque établissement "
        "(DECT, talkie-walkie, bouton d'alarme qui fonctionne)",
        "De medewerkers kunnen zich vrij en veilig verplaatsen in de gevangenis, "
        "met de veiligheidsmiddelen van elke gevangenis "
        "(DECT-toestel, walkietalkie, werkende alarmknop)",
        "Workers can move around the prison freely and safely, with each prison's "
        "own safety equipment (DECT handset, walkie-talkie, working alarm button)",
        keywords="dect talkie walkie alarme bouton déplacement alarmknop",
    ),
    ConditionDef(
        "SEC-02",
        "SEC",
        "Les travailleurs des services connaissent les procédures de sécurité et d'incendie",
        "De medewerkers van de diensten kennen de veiligheids- en brandprocedures",
        "Service workers know the safety and fire procedures",
        keywords="incendie feu évacuation brand",
    ),
    ConditionDef(
        "SEC-03",
        "SEC",
        "Les travailleurs ne sont pas enfermés dans les locaux, sauf accord contraire",
        "De medewerkers worden niet in de lokalen opgesloten, tenzij anders afgesproken",
        "Workers are not locked in the rooms unless agreed otherwise",
        keywords="enfermé clé porte fermée opgesloten",
    ),
    ConditionDef(
        "SEC-04",
        "SEC",
        "En cas de situation gravement contagieuse, les services sont informés des mesures "
        "prophylactiques à prendre pour leur personnel ; les services internes et externes "
        "de prévention et de protection se concertent",
        "Bij een ernstig besmettelijke situatie worden de diensten ingelicht over de "
        "profylactische maatregelen voor hun personeel; de interne en externe diensten "
        "voor preventie en bescherming overleggen daarover",
        "In a seriously contagious situation, the services are told the preventive "
        "measures to take for their staff; the internal and external prevention and "
        "protection services consult each other",
        "tuberculose (TBC)",
        "tbc tuberculose contagion maladie besmetting",
        "tuberculose (tbc)",
        "tuberculosis (TB)",
    ),
    ConditionDef(
        "OFF-01",
        "OFF",
        "Les travailleurs des services savent qui sont les personnes clés de l'établissement "
        "et de quoi chacune est chargée",
        "De medewerkers van de diensten weten wie de sleutelfiguren in de gevangenis zijn "
        "en waarvoor elk van hen bevoegd is",
        "Service workers know who the key people in the prison are and what each is "
        "responsible for",
        keywords="organigramme interlocuteur contact sleutelpersoon",
    ),
    ConditionDef(
        "OFF-02",
        "OFF",
        "La confidentialité des entretiens est garantie, dans le respect du code de déontologie",
        "De vertrouwelijkheid van de gesprekken is gewaarborgd, met respect voor de "
        "deontologische code",
        "Interviews are confidential, in line with the code of ethics",
        keywords="confidentialité agent présent écoute vertrouwelijkheid",
    ),
    ConditionDef(
        "OFF-03",
        "OFF",
        "Les différents services qui suivent un même bénéficiaire partagent les "
        "informations pertinentes, dans le respect du secret professionnel",
        "De diensten die eenzelfde cliënt volgen, delen de relevante informatie, "
        "met respect voor het beroepsgeheim",
        "The services working with the same person share the relevant information, "
        "within professional secrecy",
        keywords="information partage secret beroepsgeheim",
    ),
    ConditionDef(
        "OFF-04",
        "OFF",
        "Les travailleurs et les bénéficiaires ont accès à leurs communications, que ce "
        "soit par courrier, billet de rapport ou plateforme de communication",
        "De medewerkers en de cliënten hebben toegang tot hun communicatie, via brief, "
        "rapportbriefje of communicatieplatform",
        "Workers and the people they support have access to their correspondence, whether "
        "by letter, request slip or communication platform",
        keywords="courrier billet rapport lettre brief",
    ),
    ConditionDef(
        "OFF-05",
        "OFF",
        "Les services peuvent faire connaître leur offre "
        "(affiches, flyers, plateforme de communication)",
        "De diensten kunnen hun aanbod bekendmaken (affiches, flyers, communicatieplatform)",
        "Services can make what they offer known (posters, flyers, communication platform)",
        keywords="affiche flyer promotion publicité",
    ),
    ConditionDef(
        "OFF-06",
        "OFF",
        "Les établissements veillent à ce que les travailleurs puissent effectuer toutes "
        "leurs missions, individuelles et collectives, dans un délai raisonnable de 30 à "
        "45 minutes (moins d'attente)",
        "De gevangenissen zorgen ervoor dat de medewerkers al hun opdrachten, individueel "
        "en collectief, binnen een redelijke termijn van 30 tot 45 minuten kunnen "
        "uitvoeren (minder wachttijd)",
        "Prisons make sure that workers can carry out all their work, individual and "
        "collective, within a reasonable 30 to 45 minutes (less waiting)",
        keywords="attente attendre retard délai wachttijd wachten",
    ),
    ConditionDef(
        "OFF-07",
        "OFF",
        "Toute décision qui a une incidence sur l'offre des services est prise en concertation",
        "Elke beslissing die gevolgen heeft voor het aanbod van de diensten wordt in "
        "overleg genomen",
        "Every decision that affects the services is taken in consultation with them",
        keywords="décision concertation annulation overleg",
    ),
    ConditionDef(
        "OFF-08",
        "OFF",
        "Les travailleurs sont toujours informés quand le détenu ne peut pas venir à la visite",
        "De medewerkers worden altijd verwittigd wanneer de gedetineerde niet naar het "
        "bezoek kan komen",
        "Workers are always told when the detainee cannot come to the visit",
        keywords="détenu absent pas venu gedetineerde afwezig",
    ),
    ConditionDef(
        "CON-01",
        "CON",
        "Les différents intervenants se respectent mutuellement dans leurs communications",
        "De verschillende betrokkenen respecteren elkaar in hun communicatie",
        "Everyone involved treats each other with respect in all communication",
        keywords="respect insulte ton agressif",
    ),
    ConditionDef(
        "CON-02",
        "CON",
        "Les différents services concernés collaborent de manière constructive "
        "(directions, Access, agents pénitentiaires, SPS, greffe, comptabilité, …)",
        "De betrokken diensten werken constructief samen "
        "(directies, Access, penitentiair beambten, PSD, griffie, boekhouding, …)",
        "The services involved work together constructively "
        "(prison management, Access, prison officers, PSD, registry, accounts, …)",
        keywords="collaboration direction agent sps psd samenwerking",
    ),
    ConditionDef(
        "CON-03",
        "CON",
        "Le personnel pénitentiaire connaît l'offre des services, y est "
        "sensibilisé et la reconnaît",
        "Het penitentiair personeel kent het aanbod van de diensten, is ervoor "
        "gesensibiliseerd en erkent het",
        "Prison staff know about the services, are made aware of them and recognise them",
        keywords="agent ignore reconnaissance erkenning",
    ),
    ConditionDef(
        "CON-04",
        "CON",
        "De manière générale, on évite toute décision arbitraire ; le personnel des "
        "communautés est considéré comme du personnel pénitentiaire",
        "In het algemeen wordt elke willekeurige beslissing vermeden; het personeel van "
        "de gemeenschappen wordt als penitentiair personeel beschouwd",
        "Arbitrary decisions are avoided in general; community staff are treated as prison staff",
        keywords="arbitraire willekeur",
    ),
)


@dataclass(frozen=True)
class EstablishmentDef:
    """A seeded prison: its slug (the badge's address, never changes) and its names.

    The Dutch and English names are the ones the prisons and the FPS Justice use
    (« Gevangenis van Haren », the Belgian Dutch of the place names).
    """

    slug: str
    fr: str
    nl: str
    en: str


ESTABLISHMENTS: tuple[EstablishmentDef, ...] = (
    EstablishmentDef("haren", "Prison de Haren", "Gevangenis van Haren", "Haren Prison"),
    EstablishmentDef(
        "saint-gilles",
        "Prison de Saint-Gilles",
        "Gevangenis van Sint-Gillis",
        "Saint-Gilles Prison",
    ),
)
