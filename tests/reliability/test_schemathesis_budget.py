"""schemathesis with a larger budget than `tests/api/test_schemathesis.py`, in the PostgreSQL pass only.

The setup is that module's, imported (live server, arranged data and tokens, the path-parameter hook, the
checks, `fuzz`): only the number of examples differs, `BUDGET` per operation and mode instead of 25. The
operations are split into `SHARDS` tests so that `pytest -n 2` runs them on both cores. A stateful run
follows: schemathesis infers links between the operations from the schemas (a created case's `id` feeds
`/cases/{case_id}/...`, a cohort's `number` its sessions, a user's `id` its tokens) and sends sequences of
requests along them, each response checked like the others.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings

from testkit.factories import Factory
from tests.api import test_schemathesis as base
from tests.api.test_participation_api import bearer
from tests.api.test_schemathesis import api_schema, arranged, server  # noqa: F401 - its fixtures
from tests.conftest import reset_database

pytestmark = pytest.mark.postgres

BUDGET = 150
SHARDS = 4
STATEFUL = settings(
    max_examples=100,
    stateful_step_count=10,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture
def larger_budget(monkeypatch):
    """`test_schemathesis.check_operation` reads its settings from the module: the same settings, more examples."""
    monkeypatch.setattr(base, "FUZZ_SETTINGS", settings(base.FUZZ_SETTINGS, max_examples=BUDGET))


def shard(schema, index: int):
    labels = sorted(result.ok().label for result in schema.get_all_operations())
    return schema.include(name=labels[index::SHARDS])


@pytest.mark.parametrize("index", range(SHARDS))
def test_operations_with_a_larger_budget(larger_budget, api_schema, server, arranged, index):  # noqa: F811
    part = shard(api_schema, index)
    assert len(list(part.get_all_operations())) >= 5
    failures = base.fuzz(part, server, arranged.token_for)
    assert not failures, "\n\n".join(failures)


def test_sequences_along_the_inferred_links_answer_as_documented(api_schema, server, arranged, db, session):  # noqa: F811
    machine = api_schema.as_state_machine()
    assert machine.schema.statistic.transitions.total >= 5, "schemathesis inferred too few links to follow"

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            """Each sequence starts from the same data, ids included (the reset restarts them). Otherwise
            its answers depend on what the sequences before it changed (a case already created, a state
            already left), the rules it may draw change with them, and hypothesis stops the run as flaky."""
            session.rollback()
            session.expunge_all()
            reset_database(db)
            vars(arranged).update(vars(base.arrange(session, Factory(session))))

        def get_call_kwargs(self, case):
            return {"base_url": server, "headers": bearer(arranged.token_for(case.method.upper(), case.path))}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, checks=base.CHECKS)

    Sequences.run(settings=STATEFUL)
