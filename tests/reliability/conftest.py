"""Fixtures for the fault and hostile-input suite (issue 6).

The worker machinery — a private redis-server, the aiosmtpd sink, `ews worker`/`ews beat` subprocesses — is
the one of `tests/workers/conftest.py`, imported (not copied) so that both suites run the same code.
"""

from tests.workers.conftest import (  # noqa: F401 - fixtures, found by pytest by name
    redis_server,
    redis_url,
    smtp_sink,
    start_worker,
    worker_app,
    worker_settings,
)
