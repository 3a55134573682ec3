"""Must-hold 4 of issue 17: the Art. 15 export of a team member of two cohorts."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import select

from ews_cases.models import AuditEvent, OutboxMessage
from ews_cases.services.cases import MemberInput
from ews_cases.services.subject_access import export_person
from testkit.factories import ATTENDORN, FINNENTROP, complete_content
from tests.test_cli_audit import ews
from workflows import State

PERSON = "Mara Zwiefach"
ADDRESS = "mara.zwiefach@example.org"


def content(tag: str):
    base = complete_content(2, tag)
    return base.__class__(
        **{
            **{f: getattr(base, f) for f in base.__dataclass_fields__},
            "team": [MemberInput(PERSON, ADDRESS, "Sachbearbeitung"), base.team[1]],
        }
    )


def test_the_export_of_a_member_of_two_cohorts_holds_both_cases_their_emails_and_certificates(
    session, factory, database_url, tmp_path
):
    first = factory.case(factory.cohort(), FINNENTROP, content=content("A"), state=State.CERTIFIED)
    second = factory.case(factory.cohort(), ATTENDORN, content=content("B"), state=State.CERTIFIED)
    session.commit()
    output = tmp_path / "auskunft.zip"
    result = ews(database_url, "privacy", "export", "--email", ADDRESS.upper(), "--output", str(output))
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(output) as archive:
        data = json.loads(archive.read("auskunft.json"))
        html = archive.read("auskunft.html").decode()
    assert {c["reference"] for c in data["cases"]} == {first.reference, second.reference}
    sent = session.scalars(select(OutboxMessage.id).where(OutboxMessage.recipient == ADDRESS)).all()
    assert len(sent) >= 4
    assert {m["id"] for m in data["emails"]} == set(sent)
    assert len(data["certificates"]) == 2
    assert {c["holder"] for c in data["certificates"]} == {PERSON}
    text = json.dumps(data, ensure_ascii=False) + html
    assert PERSON in text
    for other in (
        "Person 2A",
        "Person 2B",
        "Erika BeispielA",
        "kontaktA@example.org",
        "person2B@example.org",
    ):
        assert other not in text, other
    session.expire_all()
    assert (
        session.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc())).first()
        == "privacy.exported"
    )


def test_the_export_zip_opens(session, factory):
    factory.case(factory.cohort(), FINNENTROP, content=content("C"), state=State.SUBMITTED)
    archive = zipfile.ZipFile(io.BytesIO(export_person(session, ADDRESS, factory.coordinator())))
    assert sorted(archive.namelist()) == ["auskunft.html", "auskunft.json"]
