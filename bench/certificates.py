"""Certificate issuance: 100 cases with two holders each, issued as the `issue_certificates` task issues them.

    .venv/bin/python bench/certificates.py [--cases 100] [--keep]

In a PostgreSQL database of its own (`ews_bench_certificates`, dropped and migrated afresh) and a temporary
storage folder:

1. one cohort (capacity = number of cases, one workshop) and N cases of different municipalities, each
   driven through the real services to `project_done` (reviews, admission, start, attendance, approved
   project) by `testkit.factories.Factory`;
2. issuance timed per case, in one transaction each like the Celery task on the ceremony day:
   `issue_missing_certificates` locks the case, numbers the serials, renders each PDF (fpdf2: PDF/A-2b,
   Noto Sans embedded and shaped by HarfBuzz, QR code by segno), seals it (PAdES, pyHanko, a self-signed
   seal made for the run), writes it, hashes it (SHA-256), appends the audit events and fires `certify`
   (which queues the emails with the PDFs);
3. the pure rendering rate: `render_certificate` alone for the same texts, and the QR code, the seal and
   SHA-256 on their own;
4. checks: 2·N certificates, every case `certified`, every file's SHA-256 the stored one, all PDFs
   distinct, each opens with pypdf as one A4 page that names its holder and serial and links to its
   verification page.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

import segno
from _database import clean_up, fresh_database, outcome, uptime
from pypdf import PdfReader
from sqlalchemy import func, select

from ews_cases.app import create_app
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.db.engine import Database
from ews_cases.documents.certificate_pdf import CertificateText, render_certificate
from ews_cases.documents.seal import make_self_signed_seal, seal_pdf
from ews_cases.links import verification_link
from ews_cases.models import Case, Certificate, Municipality, OutboxMessage, PracticeProject
from ews_cases.services.cases import MemberInput
from ews_cases.services.certificates import issue_missing_certificates
from ews_cases.settings import Settings
from workflows import BERLIN, Actor, Effect, State

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `testkit` is not an installed package
from testkit.factories import Factory, complete_content  # noqa: E402

DB_NAME = "ews_bench_certificates"
ISSUER = Actor.system("issue_certificates")
A4 = (595, 842)  # points, rounded
FIRST_NAMES = ["Jürgen", "Anna-Lena", "Özlem", "Björn", "Maximilian", "Grete", "Zoë", "Hans-Peter"]
LAST_NAMES = ["Müller", "Schäfer", "Groß", "Weißenböck", "Nguyen", "Kowalczyk", "D'Angelo", "Öztürk"]


def arrange(db: Database, cases: int) -> list[int]:
    """N cases in `project_done`, two team members each with German names, through the real services."""
    with db.transaction() as session:
        factory = Factory(session)
        cohort = factory.cohort(
            number=8,
            title="8. Entwicklungswerkstatt",
            capacity=cases,
            ceremony_place="Siegburg",
            signatory_name="Dr. Maria Muster",
            signatory_title="Ministerium für Heimat, Kommunales, Bau und Digitalisierung NRW",
            ceremony_on=factory.now.date() + timedelta(days=400),
        )
        factory.workshop(cohort)
        towns = list(session.scalars(select(Municipality.ags).order_by(Municipality.ags).limit(cases)))
        ids = []
        for n, ags in enumerate(towns):
            team = [
                MemberInput(
                    f"{FIRST_NAMES[(2 * n + k) % 8]} {LAST_NAMES[(n + 3 * k) % 8]} {n + 1}",
                    f"mitglied{k}.{ags}@kommune.example",
                    "Sachbearbeitung",
                )
                for k in range(2)
            ]
            content = replace(complete_content(2, tag=f"-{n}"), team=team)
            ids.append(factory.case(cohort, ags, content=content, state=State.PROJECT_DONE).id)
    return ids


def issue(db: Database, case_ids: list[int]) -> list[float]:
    """Per case, what the `issue_certificates` task does: one transaction, the real issuing function."""
    seconds = []
    for case_id in case_ids:
        started = time.perf_counter()
        with db.transaction() as session:
            case = session.get(Case, case_id)
            assert case is not None
            assert case.state == State.PROJECT_DONE.value
            ceremony = datetime.combine(case.cohort.ceremony_on, clock(10), tzinfo=BERLIN)
            issued = issue_missing_certificates(session, case, ISSUER, ceremony)  # released on the day
            assert len(issued) == 2, issued
        seconds.append(time.perf_counter() - started)
    return seconds


def texts(db: Database) -> list[CertificateText]:
    """The issued certificates' texts, filled in as `store_pdf` fills them, for rendering without the rest."""
    with db.session() as session:
        rows = session.execute(
            select(Certificate, Case, PracticeProject.title)
            .join(Case, Case.id == Certificate.case_id)
            .join(PracticeProject, PracticeProject.case_id == Case.id)
            .order_by(Certificate.id)
        ).all()
        return [
            CertificateText(
                holder_name=certificate.holder_name,
                municipality=case.municipality.name,
                cohort_number=case.cohort.number,
                cohort_title=case.cohort.title,
                project_title=title,
                place=case.cohort.ceremony_place or "Düsseldorf",
                issued_on=case.cohort.ceremony_on,
                signatory_name=case.cohort.signatory_name or "",
                signatory_title=case.cohort.signatory_title or "",
                serial=certificate.serial,
                verification_url=verification_link(certificate.verification_code),
                starts_on=case.cohort.starts_on,
                ends_on=case.cohort.ends_on,
            )
            for certificate, case, title in rows
        ]


def check(ok: bool, what: str, failures: list[str]) -> None:
    print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    if not ok:
        failures.append(what)


def verify(db: Database, expected: int, failures: list[str]) -> None:
    with db.session() as session:
        certificates = session.scalars(select(Certificate).order_by(Certificate.id)).all()
        states = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
        mails = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == Effect.SEND_CERTIFICATES.value)
        )
    check(len(certificates) == expected, f"{len(certificates)} certificates issued", failures)
    check(states == {"certified": expected // 2}, f"cases by state: {states}", failures)
    check(mails == expected, f"{mails} certificate emails queued", failures)
    digests, bad = set(), []
    for c in certificates:
        data = Path(c.pdf_path or "").read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        digests.add(digest)
        reader = PdfReader(io.BytesIO(data))
        page = reader.pages[0]
        size = (round(float(page.mediabox.width)), round(float(page.mediabox.height)))
        words = " ".join(page.extract_text().split())
        links = [
            a.get_object()["/A"].get_object()["/URI"]
            for a in page.get("/Annots") or []
            if a.get_object().get("/Subtype") == "/Link"
        ]
        if (
            digest != c.pdf_sha256
            or len(reader.pages) != 1
            or size != A4
            or c.holder_name not in words
            or c.serial not in words
            or links != [verification_link(c.verification_code)]
        ):
            bad.append((c.serial, digest == c.pdf_sha256, len(reader.pages), size, links))
    check(not bad, f"every PDF: stored SHA-256, one A4 page, holder, serial, QR link ({bad[:3]})", failures)
    check(len(digests) == expected, f"{len(digests)} distinct PDFs", failures)
    check(
        len({c.serial for c in certificates}) == len({c.verification_code for c in certificates}) == expected,
        "distinct serials and verification codes",
        failures,
    )


def rate_line(label: str, count: int, seconds: float) -> str:
    return (
        f"{label}: {count} in {seconds:.2f} s = {count / seconds:.1f}/s, {seconds / count * 1000:.1f} ms each"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the database {DB_NAME} and the temporary folder afterwards"
    )
    args = parser.parse_args()
    failures: list[str] = []
    print(f"load before: {uptime()}")
    url = fresh_database(DB_NAME)
    storage = Path(tempfile.mkdtemp(prefix="ews-bench-certificates-"))
    seal = storage / "seal.p12"
    make_self_signed_seal(seal, b"bench-seal")  # production with a configured seal: every PDF is sealed
    settings = Settings(
        env="production",
        database_url=url,
        data_dir=storage / "var",
        storage_dir=storage,
        secret_key=secrets.token_urlsafe(48),
        public_url="https://ews.example.org",
        seal_p12=seal,
        seal_password="bench-seal",
    )
    app = create_app(settings)
    set_dispatcher(None)  # no broker: the benchmark calls the issuing function itself
    db: Database = app.extensions["ews"].db
    try:
        with app.app_context():
            started = time.perf_counter()
            case_ids = arrange(db, args.cases)
            print(f"arranged {len(case_ids)} cases in project_done in {time.perf_counter() - started:.1f} s")

            seconds = issue(db, case_ids)
            pdfs = 2 * len(case_ids)
            print(
                "\n" + rate_line("issuance incl. PDF, QR, SHA-256, file, audit, certify", pdfs, sum(seconds))
            )
            per_case = sorted(seconds)
            print(
                f"  per case (2 PDFs): median {statistics.median(per_case) * 1000:.0f} ms, "
                f"p95 {per_case[int(len(per_case) * 0.95) - 1] * 1000:.0f} ms, max {per_case[-1] * 1000:.0f} ms"
            )
            verify(db, pdfs, failures)

            certificate_texts = texts(db)
            started = time.perf_counter()
            rendered = [render_certificate(t) for t in certificate_texts]
            render_seconds = time.perf_counter() - started
            print(
                "\n" + rate_line("render_certificate alone (with its QR code)", len(rendered), render_seconds)
            )
            started = time.perf_counter()
            for t in certificate_texts:
                segno.make(t.verification_url, error="m").save(io.BytesIO(), kind="png", scale=6, border=2)
            qr_seconds = time.perf_counter() - started
            print(rate_line("  of which QR code PNG (segno)", len(certificate_texts), qr_seconds))
            started = time.perf_counter()
            sealed = [
                seal_pdf(pdf, settings, t.serial) for pdf, t in zip(rendered, certificate_texts, strict=True)
            ]
            print(
                rate_line(
                    "seal_pdf alone (PAdES, pyHanko, RSA-2048)", len(sealed), time.perf_counter() - started
                )
            )
            check(all(s.sealed for s in sealed), "every PDF sealed", failures)
            started = time.perf_counter()
            for pdf in rendered:
                hashlib.sha256(pdf).hexdigest()
            sha_seconds = time.perf_counter() - started
            print(rate_line("SHA-256 alone", len(rendered), sha_seconds))
            sizes = [len(p) for p in rendered]
            print(f"PDF size: {min(sizes) / 1024:.1f}–{max(sizes) / 1024:.1f} KiB")
            share = render_seconds / sum(seconds)
            print(f"rendering is {share:.0%} of issuance time")
    finally:
        db.dispose()
        clean_up(DB_NAME, storage, keep=args.keep, kept=f"PDFs in {storage}")
    return outcome(failures)


if __name__ == "__main__":
    sys.exit(main())
