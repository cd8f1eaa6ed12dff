"""The référentiel of the source document (seed/barometre-fidex.txt).

Every bullet of "Les bonnes conditions de travail en prison" is one condition
with a stable code. Codes never change and conditions are retired, never
deleted. The French wording is the seed's (typos mended: "unitées", "tous des
objets"); Dutch and English are translations. `examples` holds the examples the
seed gives in brackets; `keywords` help a worker find a condition by the words
used on the ground ("pas de DECT").
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


@dataclass(frozen=True)
class OfferTypeDef:
    code: str
    fr: str
    nl: str
    en: str


CATEGORIES: tuple[CategoryDef, ...] = (
    CategoryDef("ACC", "Accessibilité", "Toegankelijkheid", "Accessibility"),
    CategoryDef("SEC", "Sécurité", "Veiligheid", "Safety"),
    CategoryDef("OFF", "Offre de services", "Dienstverlening", "Service offer"),
    CategoryDef(
        "CON",
        "Considération-reconnaissance-respect",
        "Waardering-erkenning-respect",
        "Consideration-recognition-respect",
    ),
)

OFFER_TYPES: tuple[OfferTypeDef, ...] = (
    OfferTypeDef("individuel", "Individuel", "Individueel", "Individual"),
    OfferTypeDef("collectif", "Collectif", "Collectief", "Group"),
    OfferTypeDef("cellulaire", "Cellulaire", "Cellulair", "In-cell"),
)

_ACCESS_FR = "Les travailleurs des services ont accès "
_ACCESS_NL = "De medewerkers van de diensten hebben toegang tot "
_ACCESS_EN = "Service workers have access to "

CONDITIONS: tuple[ConditionDef, ...] = (
    ConditionDef(
        "ACC-01",
        "ACC",
        _ACCESS_FR + "aux parloirs (twix et unités)",
        _ACCESS_NL + "de bezoekzalen (twix en units)",
        _ACCESS_EN + "the visiting rooms (twix and units)",
        "twix et unités",
        "parloir bezoekzaal visiting room",
    ),
    ConditionDef(
        "ACC-02",
        "ACC",
        _ACCESS_FR + "aux toilettes",
        _ACCESS_NL + "de toiletten",
        _ACCESS_EN + "the toilets",
        "",
        "toilettes wc toilet",
    ),
    ConditionDef(
        "ACC-03",
        "ACC",
        _ACCESS_FR + "aux locaux d'activités",
        _ACCESS_NL + "de activiteitenlokalen",
        _ACCESS_EN + "the activity rooms",
        "",
        "local salle activité lokaal",
    ),
    ConditionDef(
        "ACC-04",
        "ACC",
        _ACCESS_FR + "au cellulaire (guichet, locaux d'entretiens, activités)",
        _ACCESS_NL + "de cellulaire afdeling (loket, gesprekslokalen, activiteiten)",
        _ACCESS_EN + "the cell blocks (hatch, interview rooms, activities)",
        "guichet, locaux d'entretiens, activités",
        "cellule aile section vleugel",
    ),
    ConditionDef(
        "ACC-05",
        "ACC",
        _ACCESS_FR + "aux lieux utiles aux services "
        "(Mess, bureau des communautés, greffes, comptabilité, …)",
        _ACCESS_NL + "de plaatsen die de diensten nodig hebben "
        "(mess, bureau van de gemeenschappen, griffie, boekhouding, …)",
        _ACCESS_EN + "the places services need (mess, communities' office, registry, accounts, …)",
        "Mess, bureau des communautés, greffes, comptabilité",
        "mess greffe compta bureau griffie",
    ),
    ConditionDef(
        "ACC-06",
        "ACC",
        "Chaque local d'entretiens/d'activités comporte le matériel nécessaire "
        "(connexion internet, table, chaises, armoires)",
        "Elk gespreks-/activiteitenlokaal heeft het nodige materiaal "
        "(internetverbinding, tafel, stoelen, kasten)",
        "Every interview/activity room has the equipment needed "
        "(internet connection, table, chairs, cupboards)",
        "connexion internet, table, chaises, armoires",
        "matériel wifi internet chaise table armoire materiaal",
    ),
    ConditionDef(
        "ACC-07",
        "ACC",
        "Les détenus ont accès aux travailleurs des services",
        "De gedetineerden hebben toegang tot de medewerkers van de diensten",
        "Detainees have access to the service workers",
        "",
        "détenu pas amené gedetineerde",
    ),
    ConditionDef(
        "ACC-08",
        "ACC",
        "Les travailleurs peuvent rentrer avec tous les objets ne portant pas atteinte "
        "à la sécurité de l'établissement",
        "De medewerkers mogen binnenkomen met alle voorwerpen die de veiligheid van "
        "de inrichting niet in gevaar brengen",
        "Workers may bring in any object that does not endanger the establishment's security",
        "",
        "objet matériel refusé entrée voorwerp ordinateur",
    ),
    ConditionDef(
        "ACC-09",
        "ACC",
        "Les travailleurs sont informés sans délai de la non-accessibilité à l'établissement",
        "De medewerkers worden onverwijld ingelicht wanneer de inrichting niet toegankelijk is",
        "Workers are told without delay when the establishment cannot be accessed",
        "",
        "grève fermeture staking prévenu informé",
    ),
    ConditionDef(
        "ACC-10",
        "ACC",
        "Les détenus sont informés de la fonction du travailleur leur rendant visite "
        "(service extérieur, avocat, police, …)",
        "De gedetineerden worden ingelicht over de functie van de medewerker die hen "
        "bezoekt (externe dienst, advocaat, politie, …)",
        "Detainees are told the role of the worker visiting them "
        "(outside service, lawyer, police, …)",
        "service extérieur (nous), avocat, police",
        "fonction avocat police functie",
    ),
    ConditionDef(
        "ACC-11",
        "ACC",
        "Accessibilité aux plateformes de la justice (Sidis, Justfromcell)",
        "Toegang tot de platformen van justitie (Sidis, Justfromcell)",
        "Access to the justice platforms (Sidis, Justfromcell)",
        "Sidis, Justfromcell",
        "sidis justfromcell plateforme platform",
    ),
    ConditionDef(
        "SEC-01",
        "SEC",
        "Les travailleurs peuvent se déplacer librement et en toute sécurité au sein de "
        "l'établissement, tenant compte des moyens de sécurité propres à chaque "
        "établissement (Dects, talki-walkie, bouton d'alarme fonctionnel)",
        "De medewerkers kunnen zich vrij en veilig verplaatsen in de inrichting, "
        "rekening houdend met de veiligheidsmiddelen van elke inrichting "
        "(Dects, walkietalkie, werkende alarmknop)",
        "Workers can move freely and safely within the establishment, with each "
        "establishment's own safety means (DECTs, walkie-talkie, working alarm button)",
        "Dects, talki-walkie, bouton d'alarme fonctionnel",
        "dect talkie walkie alarme bouton déplacement alarmknop",
    ),
    ConditionDef(
        "SEC-02",
        "SEC",
        "Les travailleurs des services ont connaissance des procédures de sécurité/incendie",
        "De medewerkers van de diensten kennen de veiligheids-/brandprocedures",
        "Service workers know the safety/fire procedures",
        "",
        "incendie feu évacuation brand",
    ),
    ConditionDef(
        "SEC-03",
        "SEC",
        "Les travailleurs ne sont pas enfermés dans les locaux (sauf si accord contraire)",
        "De medewerkers worden niet opgesloten in de lokalen (tenzij anders afgesproken)",
        "Workers are not locked in the rooms (unless agreed otherwise)",
        "sauf si accord contraire",
        "enfermé clé porte fermée opgesloten",
    ),
    ConditionDef(
        "SEC-04",
        "SEC",
        "Les services sont informés des mesures prophylactiques à adopter pour leur "
        "personnel (en cas de situation gravement contagieuse : ex. TBC) ; concertation "
        "entre les services de prévention et de protection internes et externes",
        "De diensten worden ingelicht over de profylactische maatregelen voor hun "
        "personeel (bij een ernstig besmettelijke situatie, bv. tbc); overleg tussen de "
        "interne en externe preventie- en beschermingsdiensten",
        "Services are told the prophylactic measures to take for their staff (in a "
        "seriously contagious situation, e.g. TB); consultation between the internal "
        "and external prevention and protection services",
        "en cas de situation gravement contagieuse : ex. TBC",
        "tbc tuberculose contagion maladie besmetting",
    ),
    ConditionDef(
        "OFF-01",
        "OFF",
        "Les travailleurs des services ont accès à la répartition de compétences des "
        "personnes clés au sein des établissements",
        "De medewerkers van de diensten kennen de bevoegdheidsverdeling van de "
        "sleutelpersonen in de inrichtingen",
        "Service workers know who the key people in the establishment are and what "
        "each is responsible for",
        "",
        "organigramme interlocuteur contact sleutelpersoon",
    ),
    ConditionDef(
        "OFF-02",
        "OFF",
        "La confidentialité des entretiens est garantie tenant compte du code de déontologie",
        "De vertrouwelijkheid van de gesprekken is gewaarborgd volgens de deontologische code",
        "The confidentiality of interviews is guaranteed, in line with the code of ethics",
        "",
        "confidentialité agent présent écoute vertrouwelijkheid",
    ),
    ConditionDef(
        "OFF-03",
        "OFF",
        "Les différents services concernés par un même bénéficiaire partagent les "
        "informations pertinentes, dans le respect du secret professionnel",
        "De diensten die met eenzelfde begunstigde werken delen de relevante informatie, "
        "met respect voor het beroepsgeheim",
        "The services working with the same beneficiary share the relevant information, "
        "within professional secrecy",
        "",
        "information partage secret beroepsgeheim",
    ),
    ConditionDef(
        "OFF-04",
        "OFF",
        "Les travailleurs et les bénéficiaires ont accès à leur communication, que ce "
        "soit par courrier, billet de rapport ou plateforme de communication",
        "De medewerkers en de begunstigden hebben toegang tot hun communicatie, via "
        "brief, rapportbriefje of communicatieplatform",
        "Workers and beneficiaries have access to their communication, by letter, "
        "report slip or communication platform",
        "courrier, billet de rapport, plateforme de communication",
        "courrier billet rapport lettre brief",
    ),
    ConditionDef(
        "OFF-05",
        "OFF",
        "Les services peuvent promouvoir leur offre de services "
        "(affiches, flyers, plateforme de communication)",
        "De diensten kunnen hun aanbod bekendmaken (affiches, flyers, communicatieplatform)",
        "Services can promote what they offer (posters, flyers, communication platform)",
        "affiches, flyers, plateforme de communication",
        "affiche flyer promotion publicité",
    ),
    ConditionDef(
        "OFF-06",
        "OFF",
        "Les établissements s'engagent à ce que les travailleurs puissent effectuer "
        "toutes leurs missions (individuelles et collectives) dans des délais "
        "raisonnables de 30 à 45 minutes (diminution du temps d'attente)",
        "De inrichtingen zorgen ervoor dat de medewerkers al hun opdrachten "
        "(individueel en collectief) binnen een redelijke termijn van 30 tot 45 minuten "
        "kunnen uitvoeren (minder wachttijd)",
        "Establishments see to it that workers can carry out all their tasks "
        "(individual and group) within a reasonable 30 to 45 minutes (shorter waits)",
        "30 à 45 minutes",
        "attente attendre retard délai wachttijd wachten",
    ),
    ConditionDef(
        "OFF-07",
        "OFF",
        "Toute décision ayant une implication sur l'offre des services se fait de "
        "manière concertée",
        "Elke beslissing die gevolgen heeft voor het aanbod van de diensten wordt in "
        "overleg genomen",
        "Every decision that affects the service offer is taken in consultation",
        "",
        "décision concertation annulation overleg",
    ),
    ConditionDef(
        "OFF-08",
        "OFF",
        "Être informé en tout temps de l'impossibilité pour le détenu de se rendre à la visite",
        "Altijd ingelicht worden wanneer de gedetineerde niet naar het bezoek kan komen",
        "Being told at all times when the detainee cannot come to the visit",
        "",
        "détenu absent pas venu gedetineerde afwezig",
    ),
    ConditionDef(
        "CON-01",
        "CON",
        "Les différents intervenants veillent à se respecter mutuellement dans leurs "
        "différentes communications",
        "De verschillende betrokkenen respecteren elkaar in hun communicatie",
        "Everyone involved treats each other with respect in all communication",
        "",
        "respect insulte ton agressif",
    ),
    ConditionDef(
        "CON-02",
        "CON",
        "Les différents services concernés collaborent constructivement "
        "(Directions, Access, agents pénitentiaires, SPS, greffe, compta, …)",
        "De betrokken diensten werken constructief samen "
        "(directies, Access, penitentiair beambten, PSD, griffie, boekhouding, …)",
        "The services involved work together constructively "
        "(directions, Access, prison officers, PSD, registry, accounts, …)",
        "Directions, Access, agents pénitentiaires, SPS, greffe, compta",
        "collaboration direction agent sps samenwerking",
    ),
    ConditionDef(
        "CON-03",
        "CON",
        "Le personnel pénitentiaire a connaissance de l'offre des services, y est "
        "sensibilisé et la reconnaît",
        "Het penitentiair personeel kent het aanbod van de diensten, is ervoor "
        "gesensibiliseerd en erkent het",
        "Prison staff know about the service offer, are aware of it and recognise it",
        "",
        "agent ignore reconnaissance erkenning",
    ),
    ConditionDef(
        "CON-04",
        "CON",
        "De manière générale, on évite toute décision arbitraire ; le personnel des "
        "communautés est considéré comme du personnel pénitentiaire",
        "In het algemeen wordt elke willekeurige beslissing vermeden; het personeel van "
        "de gemeenschappen wordt als penitentiair personeel beschouwd",
        "Arbitrary decisions are avoided in general; community staff are treated as prison staff",
        "",
        "arbitraire willekeur",
    ),
)

ESTABLISHMENTS: tuple[tuple[str, str], ...] = (
    ("haren", "Prison de Haren"),
    ("saint-gilles", "Prison de Saint-Gilles"),
)
