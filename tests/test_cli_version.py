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
