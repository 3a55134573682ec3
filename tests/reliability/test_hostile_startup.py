"""Production refuses to start without a proper `EWS_SECRET_KEY`, as separate processes see it.

`tests/test_deployment.py` checks the rule in-process (`Settings(env="production")`, `create_app()`). Here the
real entry points run in a subprocess with a clean environment, as a deployment would start them: `ews web`
(the command of the Dockerfile and docker-compose.yml) and the WSGI module that `gunicorn ews_cases.wsgi:app`
imports. Each must exit non-zero before serving anything and name the variable to set; with a good key the
same environment starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ews_cases.settings import DEV_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "a-random-production-secret-of-48-characters-xyz"
WEAK_KEYS = {"missing": None, "empty": "", "short": "too-short-a-secret", "development": DEV_SECRET_KEY}
WSGI_IMPORT = "from ews_cases.wsgi import app; print('loaded', app.name)"


def run(args: list[str], tmp_path: Path, database_url: str, secret_key: str | None):
    """Run `args` with only what a production host would set (no EWS_* variable of the test run leaks in)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EWS_")}
    env |= {
        "EWS_ENV": "production",
        "EWS_DATA_DIR": str(tmp_path),
        "EWS_DATABASE_URL": database_url,
        "EWS_PORT": "1",  # never reached: nothing may start listening
        "PYTHONUNBUFFERED": "1",
    }
    if secret_key is not None:
        env["EWS_SECRET_KEY"] = secret_key
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("weak", sorted(WEAK_KEYS))
def test_ews_web_refuses_to_start_and_says_why(tmp_path, database_url, weak):
    result = run([sys.executable, "-m", "ews_cases.cli", "web"], tmp_path, database_url, WEAK_KEYS[weak])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "EWS_SECRET_KEY" in output
    assert "at least 32 characters" in output
    assert "Traceback" not in output, "a clear message, not a stack trace"
    assert "Listening at" not in output  # gunicorn never started


@pytest.mark.parametrize("weak", ["missing", "short"])
def test_the_wsgi_module_refuses_to_load(tmp_path, database_url, weak):
    result = run([sys.executable, "-c", WSGI_IMPORT], tmp_path, database_url, WEAK_KEYS[weak])
    assert result.returncode != 0
    assert "EWS_SECRET_KEY" in result.stderr
    assert "loaded" not in result.stdout


def test_with_a_good_key_the_same_environment_loads(tmp_path, database_url):
    result = run([sys.executable, "-c", WSGI_IMPORT], tmp_path, database_url, GOOD_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded ews_cases.app"
