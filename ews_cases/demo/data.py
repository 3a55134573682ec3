"""The demo's data: the municipalities of cohorts 1–5 from public sources (URLs next to each table), the open
cohort 6, the demo users and the invented names, texts and scores `ews_cases.demo.loader` loads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from workflows import State

#: Every demo user's password, published in the README (`ews demo` refuses to run in production).
PASSWORD = "demo"


class Site(NamedTuple):
    """A municipality as named in `ews_cases/reference/nrw_kommunen.csv`, with its AGS."""

    name: str
    ags: str


# -- the real participants -------------------------------------------------------------------------------
# Sources: https://www.engagiert-in-nrw.de/entwicklungswerkstatt-fuer-kommunale-engagementstrategien-ews
# (also at https://www.engagiert-in-nrw.de/node/173): "Beteiligte Kommunen" of the 1st to 3rd EWS and the
# start of the 4th's list. The 3rd is also listed in
# https://www.engagiert-in-nrw.de/zukunftsfaktor-buergerengagement-entwicklungswerkstatt-fuer-kommunen.
COHORT_1_SITES = (
    Site("Bonn", "05314000"),
    Site("Burbach", "05970008"),
    Site("Emsdetten", "05566008"),
    Site("Hemer", "05962016"),
    Site("Kamp-Lintfort", "05170020"),
    Site("Lemgo", "05766044"),
    Site("Kreis Lippe", "05766000"),
    Site("Mönchengladbach", "05116000"),
    Site("Oberhausen", "05119000"),
    Site("Solingen", "05122000"),
)
COHORT_2_SITES = (
    Site("Alsdorf", "05334004"),
    Site("Beckum", "05570008"),
    Site("Bergheim", "05362008"),
    Site("Hagen", "05914000"),
    Site("Hellenthal", "05366020"),
    Site("Kirchlengern", "05758020"),
    Site("Lünen", "05978024"),
    Site("Nieheim", "05762028"),
    Site("Velbert", "05158032"),
    Site("Witten", "05954036"),
)
# Ahlen and Senden lie in Regierungsbezirk Münster although the call was limited to Arnsberg: the demo
# submits them with a coordinator's override, which the audit trail records with its reason.
COHORT_3_SITES = (
    Site("Ahlen", "05570004"),
    Site("Bad Berleburg", "05970004"),
    Site("Bergkamen", "05978004"),
    Site("Finnentrop", "05966012"),
    Site("Kirchhundem", "05966016"),
    Site("Menden (Sauerland)", "05962040"),
    Site("Kreis Olpe", "05966000"),
    Site("Senden", "05558044"),
    Site("Kreis Siegen-Wittgenstein", "05970000"),
    Site("Sprockhövel", "05954028"),
)
# Partial: the stored copy of the page above breaks off after "Wegberg, We…", so the remaining one or two
# sites are unknown (also searched: "vierte Entwicklungswerkstatt Teilnehmer", "Zertifikate 2019
# Absolventen"). "Gütersloh" is read as the town: the list names Kreise as such ("Oberbergischer Kreis").
COHORT_4_SITES = (
    Site("Oberbergischer Kreis", "05374000"),
    Site("Gütersloh", "05754008"),
    Site("Hille", "05770012"),
    Site("Jülich", "05358024"),
    Site("Reken", "05554044"),
    Site("Siegburg", "05382060"),
    Site("Troisdorf", "05382068"),
    Site("Wegberg", "05370040"),
)
# Source: https://land.nrw/pressemitteilung/land-unterstuetzt-17-kommunen-mit-entwicklungswerkstatt-bei-der-staerkung-des
# ("Die folgenden Kommunen sind dabei", 17 names); ceremony and funding:
# https://www.land.nrw/pressemitteilung/staatssekretaerin-andrea-milz-ueberreicht-zertifikate-absolvierende-der
COHORT_5_SITES = (
    Site("Brühl", "05362012"),
    Site("Detmold", "05766020"),
    Site("Dorsten", "05562012"),
    Site("Drensteinfurt", "05570016"),
    Site("Düren", "05358008"),
    Site("Kreis Coesfeld", "05558000"),
    Site("Hennef (Sieg)", "05382020"),
    Site("Hückelhoven", "05370020"),
    Site("Kerpen", "05362032"),
    Site("Leverkusen", "05316000"),
    Site("Lünen", "05978024"),
    Site("Kreis Olpe", "05966000"),
    Site("Rheine", "05566076"),
    Site("Rheinisch-Bergischer Kreis", "05378000"),
    Site("Sendenhorst", "05570040"),
    Site("Swisttal", "05382064"),
    Site("Wachtberg", "05382072"),
)

#: INVENTED outcomes, not historic facts: the sources only name participants, but a demo needs the other
#: end states too. Each uses a municipality that took part in a later cohort, so the story stays plausible;
#: the case texts and reasons say that the course of events is invented.
ILLUSTRATIVE_OUTCOMES: dict[int, tuple[tuple[Site, State], ...]] = {
    1: ((Site("Hagen", "05914000"), State.DROPPED_OUT),),
    2: ((Site("Bergkamen", "05978004"), State.REJECTED),),
    4: ((Site("Dorsten", "05562012"), State.WITHDRAWN), (Site("Rheine", "05566076"), State.REJECTED)),
}


@dataclass(frozen=True, slots=True)
class HistoricCohort:
    """A past cohort. Years, region, capacity, funding and the dates cited in comments are from the
    sources; the other days within those years are assumptions."""

    number: int
    opens: date
    deadline: date
    starts: date
    ends: date
    sites: tuple[Site, ...]
    region: str | None = None
    capacity: int = 10
    funding_eur: Decimal | None = None
    ceremony_on: date | None = None
    ceremony_place: str | None = None

    @property
    def certificates_on(self) -> date:
        return self.ceremony_on or self.ends


HISTORIC_COHORTS = (
    HistoricCohort(
        1, date(2011, 3, 1), date(2011, 6, 30), date(2011, 10, 1), date(2013, 3, 31), COHORT_1_SITES
    ),
    HistoricCohort(
        2, date(2014, 3, 1), date(2014, 6, 30), date(2014, 9, 1), date(2015, 11, 30), COHORT_2_SITES
    ),
    # Run 2016 with the Bezirksregierung Arnsberg, its call in 2015 ("2015/16", per
    # http://tagen.erzbistum-koeln.de/ksi/projekt/Buergerengagement/); certificates handed over on
    # 26 April 2017 in the family ministry in Düsseldorf (background text 000_… in /work/shared/background).
    HistoricCohort(
        3,
        date(2015, 9, 1),
        date(2015, 11, 30),
        date(2016, 1, 15),
        date(2016, 12, 31),
        COHORT_3_SITES,
        region="Arnsberg",
        ceremony_on=date(2017, 4, 26),
        ceremony_place="Düsseldorf",
    ),
    # The call ran until 30 June 2017 (same background text).
    HistoricCohort(
        4, date(2017, 4, 1), date(2017, 6, 30), date(2017, 10, 1), date(2019, 3, 31), COHORT_4_SITES
    ),
    HistoricCohort(
        5,
        date(2023, 3, 1),
        date(2023, 6, 30),
        date(2023, 11, 1),
        date(2025, 5, 16),
        COHORT_5_SITES,
        capacity=17,
        funding_eur=Decimal("130000"),
        ceremony_on=date(2025, 5, 16),
        ceremony_place="Siegburg",
    ),
)

# -- cohort 6 (open call; the applications are invented) ------------------------------------------------
OPEN_COHORT = 6
OPEN_DEADLINE = date(2027, 6, 30)
OPEN_STARTS, OPEN_ENDS = date(2027, 9, 1), date(2028, 12, 31)
#: (municipality, state): state is draft, submitted or reviewed; the applicant's own draft comes first.
OPEN_CASES: tuple[tuple[Site, State], ...] = (
    (Site("Attendorn", "05966004"), State.DRAFT),
    (Site("Bielefeld", "05711000"), State.DRAFT),
    (Site("Lippstadt", "05974028"), State.SUBMITTED),  # the Kreis Soest reviewer is conflicted here
    (Site("Gelsenkirchen", "05513000"), State.SUBMITTED),
    (Site("Kreis Euskirchen", "05366000"), State.SUBMITTED),
    (Site("Wuppertal", "05124000"), State.REVIEWED),
)

# (email, name, role, municipality AGS): reviewers' AGS is their affiliation for conflicts of interest,
# chosen outside every historic list so that they could review all historic cases.
DEMO_USERS = (
    ("koordination@example.org", "Erika Mustermann", "coordinator", None),
    ("gutachten.muenster@example.org", "Dr. Max Beispiel", "reviewer", "05515000"),
    ("gutachten.soest@example.org", "Prof. Anna Musterfrau", "reviewer", "05974000"),
    ("revision@example.org", "Lena Muster", "auditor", None),
    ("admin@example.org", "Jonas Platzhalter", "admin", None),
    ("attendorn@example.org", "Clara Beispiel", "applicant", "05966004"),
)

FIRST_NAMES = ("Erika", "Max", "Anna", "Paul", "Lena", "Jonas", "Marie", "Felix", "Sophie", "Lukas", "Clara")
LEADERS = ("Anna", "Lena", "Marie", "Sophie", "Clara", "Greta")
SURNAMES = ("Mustermann", "Musterfrau", "Beispiel", "Muster", "Exempel", "Platzhalter", "Fiktiv")
POSITIONS = ("Ehrenamtskoordination", "Sozialplanung", "Stabsstelle Demografie", "Quartiersmanagement")
PROJECTS = (
    "Engagementlotsen im Quartier",
    "Ehrenamtsbörse online",
    "Anerkennungskultur: Ehrenamtskarte",
    "Freiwilligenagentur aufbauen",
    "Leitbild Bürgerengagement",
    "Engagementforum mit Vereinen",
)
SESSION_TITLES = {"fachtagung": "Fachtagung", "abschluss": "Abschluss und Zertifikatsübergabe"}
GOOD_SCORES = {"need": 4, "strategy": 4, "leadership": 5, "capacity": 4, "network": 3}
WEAK_SCORES = {"need": 2, "strategy": 1, "leadership": 2, "capacity": 1, "network": 2}
