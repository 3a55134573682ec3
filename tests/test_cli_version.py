"""`ews --version` prints the installed package's version, without settings or a database."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ews_version_prints_the_package_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    # Production settings without a secret key would refuse every command; --version answers anyway.
    env = {**os.environ, "EWS_ENV": "production"}
    env.pop("EWS_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "ews_cases.cli", "--version"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ews {version}\n", "")


def test_scripts_dev_ews_runs_ews_from_the_projects_environment():
    """After the quick start `ews` is in .venv/bin, not on the PATH: `scripts/dev ews …` passes the arguments
    and the exit code through (the environment of this test run stands in for .venv)."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    env = {**os.environ, "VENV": str(Path(sys.executable).parent.parent)}
    dev = str(REPO / "scripts" / "dev")
    result = subprocess.run([dev, "ews", "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"ews {version}\n"), result.stderr
    unknown = subprocess.run(
        [dev, "ews", "no-such-command"], env=env, capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr
