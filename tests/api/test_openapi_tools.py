"""The OpenAPI document through the tools integrators use (issue 19): a Python client generated with
`openapi-python-client` runs a short journey against the live server — health without a token, a case
created and submitted, the cases listed by state, the history, a refused transition as a typed problem, the
audit export and a certificate PDF as bytes — and `@redocly/cli lint` finds no error in the document.

Both tools run without the network: where user namespaces are available (`unshare -rn`) in a namespace that
has none; the generator reads the document from a file, Redocly runs with telemetry off.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from testkit.factories import ATTENDORN, DUESSELDORF
from tests.api.live_server import live_server
from tests.api.test_participation_api import token_for
from workflows import State

ROOT = Path(__file__).resolve().parents[2]
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"
GENERATOR_CONFIG = "post_hooks: []\nproject_name_override: ews_client\npackage_name_override: ews_client\n"
REDOCLY_CONFIG = "extends:\n  - recommended\n"


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    return unshare is not None and subprocess.run([unshare, "-rn", "true"], check=False).returncode == 0


OFFLINE = ["unshare", "-rn"] if _unshare_works() else []


def run_offline(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`command` in a network namespace of its own where possible; its messages are printed for the log."""
    done = subprocess.run(
        [*OFFLINE, *command],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(f"$ {' '.join(command)}  (network namespace of its own: {bool(OFFLINE)})")
    print(done.stderr if done.stdout.startswith("{") else f"{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def document(app, tmp_path: Path) -> Path:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(app.test_client().get("/api/v1/openapi.json").get_json()), encoding="utf-8")
    return path


@pytest.fixture
def ews_client(document: Path, tmp_path: Path) -> Iterator[ModuleType]:
    """The generated client package, imported from the temporary folder."""
    (tmp_path / "config.yaml").write_text(GENERATOR_CONFIG, encoding="utf-8")
    generator = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document)]
    done = run_offline(
        [*generator, "--meta", "none", "--output-path", "ews_client", "--config", "config.yaml"], tmp_path
    )
    assert done.returncode == 0
    assert "Warning" not in done.stdout + done.stderr  # nothing of the document left out of the client
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("ews_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name == "ews_client" or name.startswith("ews_client.")]:
            del sys.modules[name]


def test_a_generated_client_runs_a_journey(ews_client, app, session, factory):
    from ews_client import AuthenticatedClient, Client
    from ews_client.api.api import (
        apply_transition,
        create_case,
        export_audit,
        get_case_history,
        get_certificate_pdf,
        get_health,
        list_cases,
        list_certificates,
    )
    from ews_client.models import (
        AnswersIn,
        CaseCreateIn,
        CaseOut,
        CaseState,
        CertificateStatus,
        ExportAuditFormat,
        HealthOut,
        MemberIn,
        PersonIn,
        Problem,
        TransitionIn,
        TransitionName,
    )
    from ews_client.types import File

    cohort = factory.cohort(7)
    factory.workshop(cohort, kind="fachtagung")
    factory.workshop(cohort)
    certified = factory.case(cohort, DUESSELDORF, state=State.CERTIFIED)
    coordinator = token_for(session, factory, "coordinator")
    auditor = token_for(session, factory, "auditor")

    with live_server(app) as base_url:
        public = Client(base_url=base_url, raise_on_unexpected_status=True)
        office = AuthenticatedClient(base_url=base_url, token=coordinator, raise_on_unexpected_status=True)
        audit = AuthenticatedClient(base_url=base_url, token=auditor, raise_on_unexpected_status=True)

        health = get_health.sync(client=public)
        assert isinstance(health, HealthOut)
        assert health.database == "ok"

        draft = create_case.sync(
            client=office,
            body=CaseCreateIn(
                cohort=7,
                municipality=ATTENDORN,
                contact=PersonIn(name="Erika Beispiel", email="erika@example.org", phone="02722 1"),
                team=[
                    MemberIn(name=f"Person {n}", email=f"person{n}@example.org", position="Sachbearbeitung")
                    for n in (1, 2)
                ],
                answers=AnswersIn(
                    motivation="Engagement stärken.",
                    starting_point="Viele Vereine.",
                    goals="Eine Strategie.",
                    leadership_support="Bürgermeister Muster",
                ),
                consent=True,
            ),
        )
        assert isinstance(draft, CaseOut)
        assert (draft.state, draft.version, draft.contact.email) == (CaseState.DRAFT, 1, "erika@example.org")
        assert draft.answers.goals == "Eine Strategie."

        submitted = apply_transition.sync(
            client=office,
            case_id=draft.id,
            body=TransitionIn(name=TransitionName.SUBMIT, version=draft.version),
        )
        assert isinstance(submitted, CaseOut)
        assert submitted.state == CaseState.SUBMITTED
        assert submitted.submitted_at is not None
        assert submitted.submitted_at.tzinfo is not None

        stale = apply_transition.sync(
            client=office, case_id=draft.id, body=TransitionIn(name=TransitionName.WITHDRAW, version=1)
        )
        assert isinstance(stale, Problem)
        assert stale.status == 409

        page = list_cases.sync(client=office, state=CaseState.SUBMITTED)
        assert [case.id for case in page.items] == [draft.id]

        history = get_case_history.sync(client=audit, case_id=draft.id)
        assert history.chain_ok is True
        assert [event.action for event in history.items][-1] == "transition.submit"
        assert history.items[-1].occurred_at.tzinfo is not None

        export = export_audit.sync(client=audit, format_=ExportAuditFormat.JSONL)
        assert isinstance(export, File)
        lines = export.payload.read().decode("utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert {record["action"] for record in records} >= {"case.created", "transition.submit"}

        certificates = list_certificates.sync(client=office, case_id=certified.id).items
        assert len(certificates) == 2
        assert {c.status for c in certificates} <= {CertificateStatus.PREPARED, CertificateStatus.VALID}
        pdf = get_certificate_pdf.sync(client=office, serial=certificates[0].serial)
        assert isinstance(pdf, File)
        content = pdf.payload.read()
        assert content.startswith(b"%PDF")
        assert len(content) > 1000


def test_redocly_finds_no_error_in_the_document(document: Path, tmp_path: Path):
    assert REDOCLY.exists(), "npm ci (package.json: @redocly/cli)"
    (tmp_path / "redocly.yaml").write_text(REDOCLY_CONFIG, encoding="utf-8")
    done = run_offline(
        [str(REDOCLY), "lint", "--config", "redocly.yaml", "--format", "json", str(document)],
        tmp_path,
        REDOCLY_TELEMETRY="off",
        REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
        NO_COLOR="1",
    )
    report = json.loads(done.stdout)
    problems = [(p["severity"], p["ruleId"], p["location"][0]["pointer"]) for p in report["problems"]]
    for severity, rule, pointer in problems:
        print(severity, rule, pointer)
    assert [p for p in problems if p[0] == "error"] == []
    assert done.returncode == 0
    assert report["totals"]["errors"] == 0
