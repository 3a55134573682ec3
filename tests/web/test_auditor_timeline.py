"""The auditor's history in plain German (issue 14, must-hold 6): every event a sentence with labelled fields,
names instead of ids, old → new for edits, no English action code or data key as visible text, and the
canonical JSON one click away — equal to what the hash covers. Also: German labels for every action the
code base can write and every key the events carry, newest first, and `<time>` to the millisecond."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from ews_cases.audit.chain import canonical_json, event_record
from ews_cases.audit.personal import PERSONAL_LOOKING, leaves, resolve
from ews_cases.audit.queries import held_values
from ews_cases.models import AuditEvent
from ews_cases.web.auditing_labels import (
    ACTION_LABELS,
    ACTOR_ROLES,
    FIELD_LABELS,
    GUARD_LABELS,
    LETTER_LABELS,
    SYSTEM_TASKS,
    VALUE_LABELS,
)
from ews_cases.web.auditing_values import field_label, flatten
from tests.web.audit_world import NEW_GOALS, OLD_GOALS, PASSWORD, REFUSED, History, build_history
from tests.web.helpers import login
from tests.workers.conftest import smtp_sink  # noqa: F401 - the real SMTP server of the world's emails
from workflows import BERLIN, WORKFLOW, Effect, State
from workflows.actors import Role

ROOT = Path(__file__).resolve().parents[2]
#: Calls that hand `chain.append` an action held in a variable, and the actions they can hand it.
#: Written by a migration (migrations/versions/*_personal_values_and_legal_hold.py), not by the application.
MIGRATION_ACTIONS = {"audit.converted"}
INDIRECT_ACTIONS = {
    "ews_cases/mail/delivery.py": {"email.delivered", "email.failed"},
    "ews_cases/services/certificates.py": {"certificate.issued", "certificate.prepared"},
}
#: `<time datetime>` as HTML allows it, to the millisecond at most (or a day).
TIME_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$")


# -- what the code base can write ---------------------------------------------------------------------------


def written_actions() -> tuple[set[str], dict[str, int]]:
    """Every action passed to `chain.append(..., action=...)` in ews_cases/ and workers/ (an f-string
    `transition.{name}` stands for every transition of the workflow), and the files that pass a variable."""
    found: set[str] = set()
    indirect: dict[str, int] = {}
    for path in [*(ROOT / "ews_cases").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            for keyword in node.keywords:
                if name != "append" or keyword.arg != "action":
                    continue
                value = keyword.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
                elif isinstance(value, ast.JoinedStr):
                    start = value.values[0]
                    assert isinstance(start, ast.Constant), ast.unparse(value)
                    assert start.value == "transition.", ast.unparse(value)
                    found |= {f"transition.{spec}" for spec in WORKFLOW.specs}
                else:
                    relative = str(path.relative_to(ROOT))
                    indirect[relative] = indirect.get(relative, 0) + 1
    return found, indirect


def test_every_action_the_code_base_can_write_has_a_german_label():
    found, indirect = written_actions()
    assert set(indirect) == set(INDIRECT_ACTIONS), (
        "chain.append gets an action from a variable here; list the actions it can get in INDIRECT_ACTIONS",
        indirect,
    )
    for relative, actions in INDIRECT_ACTIONS.items():
        source = (ROOT / relative).read_text(encoding="utf-8")
        assert all(f'"{action}"' in source for action in actions), relative
        found |= actions
    assert len(found) > 30  # the walk sees the services, the workers and the views
    missing = sorted(found - set(ACTION_LABELS))
    assert not missing, f"actions without a German label in web/auditing_labels.py: {missing}"
    stale = sorted(set(ACTION_LABELS) - found - MIGRATION_ACTIONS)
    assert not stale, f"labels of actions nothing writes any more: {stale}"


def test_every_coded_value_has_a_german_label():
    letters = {
        p.stem for p in (ROOT / "ews_cases/templates/mail").glob("*.txt") if not p.stem.startswith("_")
    }
    assert letters <= set(LETTER_LABELS)
    assert {e.value for e in Effect} - {"queue_certificates"} <= set(LETTER_LABELS)
    overridable = {code for spec in WORKFLOW.specs.values() for code in spec.overridable}
    assert overridable <= set(GUARD_LABELS)
    assert {s.value for s in State} == set(VALUE_LABELS["state"])
    assert {r.value for r in Role} == set(ACTOR_ROLES)


# -- the world ---------------------------------------------------------------------------------------------


@pytest.fixture
def history(session, factory, settings, smtp_sink) -> History:  # noqa: F811
    smtp_sink.decide = lambda message: "550 mailbox unavailable" if message["To"] == REFUSED else None
    return build_history(session, factory, settings, smtp_sink.host, smtp_sink.port)


@pytest.fixture
def auditor_client(app, history):
    client = app.test_client()
    login(client, history.auditor.email, PASSWORD)
    return client


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def stored_events(session, **where: Any) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    events = list(session.scalars(query))
    session.commit()
    return events


def keys_of(value: Any) -> Iterator[str]:
    """Every key anywhere in a recorded value (nested objects and the objects in lists too)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield str(key)
            yield from keys_of(inner)
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item)


class VisibleText(HTMLParser):
    """The text of `<main>` a reader sees with every `<details class="raw-json">` closed (its content and
    summary left out); tags and attributes are not text, and only inline elements run into their
    neighbours without a space."""

    INLINE = frozenset({"a", "abbr", "b", "code", "del", "em", "i", "ins", "small", "span", "strong", "time"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_main = False
        self.raw_depth = 0  # open <details> elements since (and including) a raw-json one

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.INLINE:
            self.parts.append(" ")
        if tag == "main":
            self.in_main = True
        if tag == "details" and (self.raw_depth or "raw-json" in (dict(attrs).get("class") or "")):
            self.raw_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.INLINE:
            self.parts.append(" ")
        if tag == "main":
            self.in_main = False
        if tag == "details" and self.raw_depth:
            self.raw_depth -= 1

    def handle_data(self, data: str) -> None:
        if self.in_main and not self.raw_depth:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = VisibleText()
    parser.feed(page)
    return " ".join("".join(parser.parts).split())


def english_codes_in(text: str, codes: set[str]) -> set[str]:
    """The codes that occur in `text` as words of their own (case-sensitive: "Version" is German)."""
    words = set(re.findall(r"[\w.:*-]+", text))
    words |= {w.strip(".:-") for w in words}
    return {code for code in codes if code in words or ("." in code and code in text)}


def codes_of(events: list[AuditEvent]) -> set[str]:
    """The action codes the world wrote and every key its data holds, plus all known action codes."""
    codes = set(ACTION_LABELS) | {e.action for e in events}
    for e in events:
        codes |= set(keys_of(e.data))
        if isinstance(e.data, Mapping):
            codes |= set(flatten(e.data))
            codes |= set(e.data.get("changes") or {})
    return codes


# -- must-hold 6 -------------------------------------------------------------------------------------------


def test_the_world_has_every_kind_of_event(session, history):
    actions = {e.action for e in stored_events(session)}
    found, _indirect = written_actions()
    unused = {"user.password_changed", "transition.return_for_revision", "transition.waitlist"}
    unused |= {"transition.reject", "transition.withdraw", "transition.drop_out"}
    assert (found | INDIRECT_ACTIONS["ews_cases/mail/delivery.py"]) - unused <= actions


def test_every_key_the_events_carry_has_a_german_label(session, history):
    events = stored_events(session)
    held = held_values(session, (e.data for e in events))
    for e in events:
        # As the page shows it: the personal values in place of their commitments.
        data = resolve(e.data, held, lambda _entry: "") if isinstance(e.data, Mapping) else {}
        for key in data:
            assert key in FIELD_LABELS, (e.action, key)
        # The content of a new case is shown field by field, as the edits of a draft name them.
        content = flatten(data) if e.action == "case.created" else {}
        for key in [*content, *(data.get("changes") or {})]:
            assert field_label(key) != key, (e.action, key)


def test_no_event_holds_a_personal_looking_value_in_clear(session, history):
    """Every string under a key that looks personal is a commitment (ews_cases/audit/personal.py): an
    action whose declaration forgot such a field fails here."""
    for e in stored_events(session):
        for path, value in leaves(e.data, ()):
            looks_personal = any(PERSONAL_LOOKING.search(k) for k in path if not k.isdigit())
            assert not (looks_personal and isinstance(value, str) and value), (e.action, path)


def test_the_timeline_shows_no_english_code_and_the_raw_json_is_reachable(session, auditor_client, history):
    events = stored_events(session, case_id=history.case.id)
    page = page_of(auditor_client, f"/pruefung/faelle/{history.case.id}")

    text = visible_text(page)
    assert "Gutachten abgegeben von Dr. Beispiel" in text  # the page was read, not an empty shell
    codes = codes_of(events)
    assert {"transition.admit", "review.recorded", "scores", "recommendation", "changes"} <= codes
    assert english_codes_in(text, codes) == set()
    assert english_codes_in(text, {e.actor for e in events} | set(SYSTEM_TASKS)) == set()

    # Closed by default, one click away: each event's details hold exactly the bytes its hash covers.
    raws = re.findall(r'<details class="raw-json[^"]*">(.*?)</details>', page, re.S)
    assert len(raws) == len(events)
    assert not re.search(r'<details class="raw-json[^"]*" open', page)
    for stored, raw in zip(events, raws, strict=True):
        shown = re.search(r'<pre class="canonical[^"]*"><code>(.*?)</code></pre>', raw, re.S).group(1)
        assert html.unescape(shown) == canonical_json(event_record(stored)).decode("utf-8")
        assert stored.hash in raw
        assert stored.prev_hash in raw


def test_the_global_log_shows_the_same_sentences_and_no_english_code(session, auditor_client, history):
    events = stored_events(session)
    log = page_of(auditor_client, "/pruefung?limit=500")
    timeline = page_of(auditor_client, f"/pruefung/faelle/{history.case.id}")
    sentences = dict(
        re.findall(r'id="ereignis-(\d+)".*?<p class="[^"]*event-sentence">\s*(.*?)\s*<', timeline, re.S)
    )
    in_log = dict(
        re.findall(r'<tr data-sequence="(\d+)".*?<span class="event-sentence">(.*?)</span>', log, re.S)
    )
    assert sentences
    assert all(in_log[n] == s for n, s in sentences.items())
    assert len(in_log) == len(events)
    # The filter form above the entries takes codes by design (its help says e.g. "transition.*").
    text = visible_text("<main>" + log.split('id="eintraege-titel"', 1)[1])
    assert english_codes_in(text, codes_of(events)) == set()


# -- the sentences -------------------------------------------------------------------------------------------


def event_html(page: str, stored: AuditEvent) -> str:
    """The event's `<li>` up to its raw JSON (a change list inside it has `<li>`s of its own)."""
    return (
        page.split(f'id="ereignis-{stored.id}"', 1)[1]
        .split(">", 1)[1]
        .split('<details class="raw-json', 1)[0]
    )


def test_a_review_reads_as_a_sentence_with_its_scores_and_recommendation(session, auditor_client, history):
    reviews = stored_events(session, case_id=history.case.id, action="review.recorded")
    page = page_of(auditor_client, f"/pruefung/faelle/{history.case.id}")
    first, second = (visible_text(f"<main>{event_html(page, r)}</main>") for r in reviews)
    assert first.startswith(
        "Gutachten abgegeben von Dr. Beispiel: Bedarf 4, Strategie 3, Rückhalt der Verwaltungsspitze 5, "
        "Kapazität 4, Vernetzung 3 – Empfehlung: zulassen"
    )
    assert "Kommentar Überzeugend." in first
    assert second.startswith("Gutachten abgegeben von Prof. Muster:")
    assert "Empfehlung: Warteliste" in second


def test_edits_read_old_to_new_with_german_field_names(session, auditor_client, history):
    edit = stored_events(session, case_id=history.case.id, action="case.updated")[0]
    page = page_of(auditor_client, f"/pruefung/faelle/{history.case.id}")
    text = visible_text(f"<main>{event_html(page, edit)}</main>")
    assert text.startswith("Bewerbung bearbeitet von Franz Finnentrop: eine Angabe geändert")
    assert f"Ziele: „{OLD_GOALS}“ wird zu → „{NEW_GOALS}“" in text
    after = page.split(f'id="ereignis-{edit.id}"', 1)[1]
    row = re.search(r'<li class="change[^"]*">(.*?)</li>', after, re.S).group(1)
    assert f"<del>{OLD_GOALS}</del>" in row
    assert f"<ins>{NEW_GOALS}</ins>" in row


def test_a_new_case_lists_its_content_in_the_forms_order(session, auditor_client, history):
    """Whatever order the database keeps JSON keys in (PostgreSQL's JSONB has its own)."""
    created = stored_events(session, case_id=history.case.id, action="case.created")[0]
    page = page_of(auditor_client, f"/pruefung/faelle/{history.case.id}")
    labels = re.findall(r'<dt class="col-sm-3">([^<]+)</dt>', event_html(page, created))
    member = ["Name", "E-Mail", "Funktion"]
    assert labels == [
        "Ansprechperson: Name",
        "Ansprechperson: E-Mail",
        "Ansprechperson: Telefon",
        *(f"Entwicklungsteam, Person {n}: {field}" for n in (1, 2) for field in member),
        "Motivation",
        "Ausgangslage",
        "Ziele",
        "Unterstützung der Verwaltungsspitze",
        "Einwilligung",
    ]


def test_names_stand_where_the_events_hold_ids(session, auditor_client, history):
    page = page_of(auditor_client, f"/pruefung/faelle/{history.case.id}")
    text = visible_text(page)
    workshop_day = history.workshop.starts_at.astimezone(BERLIN).strftime("%d.%m.%Y")
    # Team member and session instead of their ids; a corrected entry as old → new.
    assert (
        "Anwesenheit erfasst von Karla Koordination: Anna Engagiert, "
        f"Workshop „Engagement vor Ort“ am {workshop_day}: entschuldigt → anwesend"
    ) in text
    assert "Bernd Bürgersinn, Workshop „Engagement vor Ort“" in text
    # The certificate by its holder, the system by what it does, the letter by its name.
    assert (
        f"Zertifikat widerrufen von Karla Koordination: {history.revoked.serial} ({history.revoked.holder_name})"
        in text
    )
    assert "Begründung Name falsch geschrieben." in text
    assert "Begutachtung abgeschlossen (automatisch: Gutachteneingang): Eingereicht → Begutachtet" in text
    assert "Zertifikat ausgestellt (automatisch: Zertifikatsausstellung)" in text
    assert f"E-Mail-Zustellung fehlgeschlagen (automatisch: E-Mail-Versand): Zulassung an {REFUSED}" in text
    assert "Fehler 550 mailbox unavailable" in text
    assert re.search(r"E-Mails Zulassung an [^;]*anna\.engagiert@finnentrop\.example", text)
    assert "Praxisprojekt geändert von Karla Koordination: Status eingereicht → geplant" in text
    assert "Begründung Bitte den Zeitplan ergänzen." in text
    # Actors by name; their id only in the link that filters the log by them.
    assert f'href="/pruefung?actor=user:{history.coordinator.id}"' in page
    assert f"user:{history.coordinator.id}" not in text


def test_events_outside_cases_read_in_german_too(auditor_client, history):
    text = visible_text(page_of(auditor_client, "/pruefung?limit=500&case="))
    for expected in (
        "Durchgang geändert von Karla Koordination: Durchgang",
        "Plätze (Standorte): „10“ wird zu → „12“",
        "Termin angelegt von Karla Koordination: Workshop „Engagement vor Ort“ am",
        "Kontakt angelegt von Karla Koordination: Carla Kontakt (carla@attendorn.example), ",
        "Kontakt hat Erinnerungen abbestellt (automatisch: Abmeldelink): Carla Kontakt",
        "Erinnerungen abbestellt (automatisch: Abmeldelink): Franz Finnentrop (franz@finnentrop.example)",
        "Fristerinnerungen vorgemerkt (automatisch: Erinnerungsdienst): Durchgang",
        "E-Mails verworfen von Karla Koordination:",
        "Konto angelegt von Ada Administration: Dora Daten (dora@land.example), Rolle: Prüfung",
        "API-Token erstellt von Ada Administration: „Auswertung“ für Dora Daten",
        "API-Token widerrufen von Ada Administration: „Auswertung“ für Dora Daten",
        "Zugang deaktiviert von Ada Administration: Dora Daten",
        "Zugang reaktiviert von Ada Administration: Dora Daten",
    ):
        assert expected in text, expected


def test_names_are_looked_up_once_per_page_not_per_event(db, auditor_client, history):
    """The queries of a page do not grow with its events: each kind of name comes in one query."""

    def count_queries(url: str) -> int:
        statements: list[str] = []

        def note(_conn, _cursor, statement, *_args) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            page_of(auditor_client, url)
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        return len(statements)

    # Each attendance names a person, a team member, a session and a case; each review a person and a case.
    for action, few, many in (("attendance.recorded", 1, 3), ("review.recorded", 1, 2)):
        one = count_queries(f"/pruefung?action={action}&limit={few}")
        more = count_queries(f"/pruefung?action={action}&limit={many}")
        assert one == more, action


# -- order and time ------------------------------------------------------------------------------------------


def test_newest_first_is_an_option_and_oldest_first_the_default(session, auditor_client, history):
    url = f"/pruefung/faelle/{history.case.id}"
    positions = [e.position for e in stored_events(session, case_id=history.case.id)]
    default = page_of(auditor_client, url)
    assert [int(p) for p in re.findall(r'data-position="(\d+)"', default)] == positions
    assert "Ereignisse (älteste zuerst, Ortszeit Berlin)" in default
    link = re.search(r'<a href="([^"]+)">neueste zuerst</a>', default).group(1)
    newest = page_of(auditor_client, html.unescape(link))
    assert [int(p) for p in re.findall(r'data-position="(\d+)"', newest)] == positions[::-1]
    assert "Ereignisse (neueste zuerst, Ortszeit Berlin)" in newest
    assert 'aria-current="true" class="fw-semibold">neueste zuerst' in newest


def test_the_log_pages_newest_first_through_every_event(session, auditor_client, history):
    everything = [e.id for e in stored_events(session)]
    seen, url = [], "/pruefung?limit=40&order=newest"
    while url:
        page = page_of(auditor_client, url)
        seen += [int(n) for n in re.findall(r'<tr data-sequence="(\d+)"', page)]
        found = re.search(r'<a [^>]*href="([^"]+)"[^>]*id="weitere"', page)
        url = html.unescape(found.group(1)) if found else None
        assert "order=newest" in (url or "order=newest")
    assert seen == everything[::-1]


def test_every_time_element_is_valid_html_to_the_millisecond(session, auditor_client, history):
    pages = [
        page_of(auditor_client, f"/pruefung/faelle/{history.case.id}"),
        page_of(auditor_client, "/pruefung?limit=500"),
        page_of(auditor_client, "/pruefung/bewerbungen"),
    ]
    values = [v for page in pages for v in re.findall(r'<time datetime="([^"]*)"', page)]
    assert len(values) > 50
    assert [v for v in values if not TIME_VALUE.match(v)] == []
    first = stored_events(session, case_id=history.case.id)[0]
    assert f'<time datetime="{first.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}Z">' in pages[0]
