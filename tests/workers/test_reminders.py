"""Deadline reminders end to end: real `ews worker` processes, the test Redis and a real SMTP server.

The scans are started the ways production starts them — the Celery task through the broker and the
`ews reminders run` command — with an explicit `now`, so the test controls the calendar, not the clock.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from datetime import time as clock
from email.header import decode_header, make_header
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from ews_cases.models import Cohort, Contact, Municipality, OutboxMessage, ReminderSent
from ews_cases.services.contacts import add_contact
from ews_cases.services.subscriptions import unsubscribe
from testkit.factories import ATTENDORN, DUESSELDORF, FINNENTROP, OLPE_KREIS, SYSTEM, Factory
from testkit.processes import ROOT, settings_env
from workers import tasks
from workflows import BERLIN, State

SUBJECT = "Die Bewerbungsfrist für die "
MONTHS = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
]
SUBMITTED = (ATTENDORN, DUESSELDORF)  # municipalities that applied: their contacts get nothing
DRAFT = FINNENTROP  # a draft: its contacts and its applicant are reminded


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, clock(hour), BERLIN)


def body(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text part in {message['Subject']}")


def header(message: Message, name: str) -> str:
    """A header's value unfolded (a long one arrives folded onto the next line)."""
    return " ".join(str(message[name]).split())


def subject(message: Message) -> str:
    """The subject decoded (German words arrive as RFC 2047 encoded words)."""
    return " ".join(str(make_header(decode_header(str(message["Subject"])))).split())


def reminders(messages: Iterable[Message], days: int | None = None) -> list[Message]:
    """The deadline reminders among `messages` (other case mail is delivered too), optionally of one offset."""
    found = [m for m in messages if subject(m).startswith(SUBJECT)]
    return [m for m in found if days is None or f"in {days} Tagen" in body(m)]


def task_results(workers: Iterable[Any], name: str) -> list[Any]:
    """Return values of the finished runs of task `name`, as the workers logged them."""
    marker = f"task workers.tasks.{name} SUCCESS in "
    results = []
    for worker in workers:
        for line in worker.log().splitlines():
            if marker in line:
                results.append(ast.literal_eval(line.split(marker, 1)[1].split(": ", 1)[1]))
    return results


def wait_for_results(workers: list[Any], name: str, count: int, timeout: float = 60) -> list[Any]:
    """Wait until the workers finished `count` runs of task `name` in all; a failed run fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        results = task_results(workers, name)
        failures = [
            line
            for w in workers
            for line in w.log().splitlines()
            if f"task workers.tasks.{name} failed" in line
        ]
        assert not failures, failures
        if len(results) >= count:
            return results
        time.sleep(0.05)
    logs = "\n".join(w.log()[-3000:] for w in workers)
    raise AssertionError(f"expected {count} runs of {name}, got {task_results(workers, name)}:\n{logs}")


def wait_for_reminders(sink, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(reminders(sink.messages)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} reminders, got {len(reminders(sink.messages))}")
        time.sleep(0.1)


def reminders_cli(settings, now: datetime) -> subprocess.Popen[str]:
    """`ews reminders run --now ...` in its own process, as an operator (or cron) would run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "ews_cases.cli", "reminders", "run", "--now", now.isoformat()],
        cwd=ROOT,
        env=settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


def arrange_contacts(session, municipalities: list[str], per_municipality: int) -> list[Contact]:
    """Contacts added as the coordinators add them (each one audited)."""
    return [
        add_contact(session, SYSTEM, ags, f"Kontakt {n} {ags}", f"kontakt{n}.{ags}@kommune.example")
        for ags in municipalities
        for n in range(1, per_municipality + 1)
    ]


def other_municipalities(session, count: int) -> list[str]:
    taken = {*SUBMITTED, DRAFT, OLPE_KREIS}
    query = select(Municipality.ags).where(Municipality.ags.not_in(taken)).order_by(Municipality.ags)
    return list(session.scalars(query.limit(count)))


def test_each_contact_gets_each_reminder_exactly_once(
    worker_app, start_worker, smtp_sink, worker_settings, database, session, factory: Factory
):
    cohort = factory.cohort(title="7. Entwicklungswerkstatt")
    deadline = cohort.application_deadline
    eligible = arrange_contacts(session, [DRAFT, *other_municipalities(session, 249)], 2)
    assert len(eligible) == 500
    not_reminded = arrange_contacts(session, list(SUBMITTED), 2)
    [opted_out] = arrange_contacts(session, [OLPE_KREIS], 1)
    unsubscribe(session, opted_out.unsubscribe_token)
    for ags in SUBMITTED:
        factory.case(cohort, ags, state=State.SUBMITTED)
    factory.case(cohort, DRAFT, state=State.DRAFT)
    applicant = factory.user("applicant", DRAFT)
    session.commit()
    expected = {c.email for c in eligible} | {applicant.email}
    workers = [start_worker(), start_worker()]
    for worker in workers:
        worker.wait_ready()

    # Day 7 before the deadline: the scan twice at once (two worker processes) and the command beside them.
    day7 = at(deadline - timedelta(days=7))
    command = reminders_cli(worker_settings, day7)
    tasks.scan_reminders.delay(day7.isoformat())
    tasks.scan_reminders.delay(day7.isoformat())
    output = finished(command)
    runs = wait_for_results(workers, "scan_reminders", 2)
    assert {r["offsets"].get(cohort.number) for r in runs} == {7}
    by_command = int(output.split(": ", 1)[1].split(" Erinnerungen", 1)[0])
    assert by_command + sum(r["total"] for r in runs) == 501, (output, runs)
    wait_for_reminders(smtp_sink, 501)
    # ... and again, that morning and that night: nothing new.
    tasks.scan_reminders.delay(day7.isoformat())
    tasks.scan_reminders.delay((day7 + timedelta(hours=14, minutes=59)).isoformat())
    runs = wait_for_results(workers, "scan_reminders", 4)
    assert by_command + sum(r["total"] for r in runs) == 501, (output, runs)
    day7_mail = reminders(smtp_sink.settle(quiet=1.0))
    per_recipient = Counter(m["To"] for m in day7_mail)
    assert set(per_recipient) == expected
    assert set(per_recipient.values()) == {1}
    assert not {c.email for c in not_reminded} & set(per_recipient)
    assert opted_out.email not in per_recipient
    assert all("in 7 Tagen" in body(m) for m in day7_mail)

    # What a reminder says and carries: the deadline in German, List-Unsubscribe and a working link.
    anna = eligible[10]
    [mail] = [m for m in day7_mail if m["To"] == anna.email]
    text = body(mail)
    assert "Die Bewerbungsfrist endet" in text
    assert f"am {deadline.day}. {MONTHS[deadline.month - 1]} {deadline.year}, um 23:59 Uhr" in text
    assert f"Guten Tag {anna.name}," in text
    assert subject(mail).endswith(f" endet am {deadline.day}. {MONTHS[deadline.month - 1]} {deadline.year}")
    link = f"http://ews.test/unsubscribe/{anna.unsubscribe_token}"
    assert link in text
    # The headers mail programs offer "unsubscribe" with (RFC 2369, RFC 8058 one-click).
    assert header(mail, "List-Unsubscribe") == f"<{link}>"
    assert header(mail, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    [draft_mail] = [m for m in day7_mail if m["To"] == applicant.email]
    assert "Entwurf" in body(draft_mail)
    page = worker_app.test_client().get(urlsplit(link).path)  # a link scanner's GET changes nothing
    assert page.status_code == 200
    assert anna.email in page.get_data(as_text=True)
    # Anna's mail program sends the RFC 8058 one-click POST: she opts out.
    one_click = worker_app.test_client().post(urlsplit(link).path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200

    # After the deadline: the command sends nothing.
    after = finished(reminders_cli(worker_settings, at(deadline + timedelta(days=1))))
    assert ": 0 Erinnerungen eingereiht" in after

    # Day 5: nothing due. Day 3: everyone once more, but not the contact who followed the link.
    tasks.scan_reminders.delay(at(deadline - timedelta(days=5)).isoformat())
    day3 = at(deadline - timedelta(days=3))
    tasks.scan_reminders.delay(day3.isoformat())
    tasks.scan_reminders.delay(day3.isoformat())
    runs = wait_for_results(workers, "scan_reminders", 7)
    assert by_command + sum(r["total"] for r in runs) == 501 + 500, runs
    wait_for_reminders(smtp_sink, 501 + 500)
    all_mail = reminders(smtp_sink.settle(quiet=1.0))
    assert len(all_mail) == 501 + 500
    day3_mail = reminders(all_mail, 3)
    assert Counter(m["To"] for m in day3_mail) == Counter(expected - {anna.email})

    with database.sessionmaker() as s:
        cohort_id = s.scalar(select(Cohort.id).where(Cohort.number == cohort.number))
        offsets = Counter(
            s.scalars(select(ReminderSent.offset_days).where(ReminderSent.cohort_id == cohort_id))
        )
        assert offsets == {7: 501, 3: 500}
        statuses = Counter(
            s.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "deadline_reminder"))
        )
        assert statuses == {"sent": 1001}
        assert s.get(Contact, anna.id).opted_out_at is not None


def test_a_missed_day_sends_only_the_next_reminder_on_its_day(
    worker_app, start_worker, smtp_sink, worker_settings, database, session, factory: Factory
):
    cohort = factory.cohort()
    deadline = cohort.application_deadline
    contacts = arrange_contacts(session, other_municipalities(session, 10), 1)
    session.commit()
    worker = start_worker()
    worker.wait_ready()

    # Nobody scanned on day 7 (beat was down). Day 5 catches up with nothing: that reminder is stale.
    tasks.scan_reminders.delay(at(deadline - timedelta(days=5), 12).isoformat())
    [run] = wait_for_results([worker], "scan_reminders", 1)
    assert (run["total"], run["offsets"]) == (0, {})
    # Day 3 before 08:00: not yet; from 08:00: the day-3 reminder, once.
    tasks.scan_reminders.delay(at(deadline - timedelta(days=3), 7).isoformat())
    tasks.scan_reminders.delay(at(deadline - timedelta(days=3), 8).isoformat())
    runs = wait_for_results([worker], "scan_reminders", 3)
    assert [r["total"] for r in runs] == [0, 0, 10]

    messages = reminders(smtp_sink.wait_for(10))
    assert sorted(m["To"] for m in messages) == sorted(c.email for c in contacts)
    assert all("in 3 Tagen" in body(m) for m in messages)
    assert reminders(smtp_sink.settle(quiet=1.0)) == messages
    with database.sessionmaker() as s:
        assert set(s.scalars(select(ReminderSent.offset_days))) == {3}
        assert s.scalar(select(func.count()).select_from(ReminderSent)) == 10
