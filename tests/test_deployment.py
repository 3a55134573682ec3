"""The production deployment files: docker-compose.yml, .env.example and the Dockerfile (docs/operations.md).

There is no Docker engine in the test environment, so these are static checks of what the files say, plus
the settings rule they rely on: production refuses to start without `EWS_SECRET_KEY`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from pydantic import ValidationError

from ews_cases.app import create_app
from ews_cases.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_CONFIG = ROOT / "deploy" / "nginx" / "nginx.conf"

APP_COMMANDS = {
    "web": ["ews", "web"],
    "worker": ["ews", "worker"],
    "beat": ["ews", "beat"],
    "migrate": ["ews", "db", "upgrade"],
    "roles": ["ews", "db", "roles"],
}
#: The PostgreSQL role each app service connects as: the schema's owner migrates and grants, the
#: application role (append-only on the audit tables) runs everything else.
DATABASE_ROLES = {"web": "ews_app", "worker": "ews_app", "beat": "ews_app", "migrate": "ews", "roles": "ews"}
LONG_RUNNING = ("proxy", "web", "worker", "beat", "postgres", "redis", "mailpit")
SETTINGS_FIELDS = set(Settings.model_fields)
EWS_VARIABLE = re.compile(r"\bEWS_[A-Z0-9_]+\b")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No `EWS_*` variable of the test run leaks into the settings built here."""
    for name in list(os.environ):
        if name.startswith("EWS_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def _interpolate(value: str) -> str:
    """What compose makes of `value` with an empty shell and .env: defaults, and placeholders for the
    variables compose insists on (`:?`)."""

    def substitute(match: re.Match[str]) -> str:
        if match["op"] == "-":
            return match["arg"]
        if match["op"] == "?":
            # Long enough for the production rule on EWS_SECRET_KEY (32 characters or more).
            return f"placeholder-{match['name'].lower()}-{'x' * 32}"
        raise AssertionError(f"${{{match['name']}}} has neither a default nor a required-message")

    return INTERPOLATION.sub(substitute, value)


def _field(variable: str) -> str:
    return variable.removeprefix("EWS_").lower()


# --- docker-compose.yml --------------------------------------------------------------------------------


def test_compose_has_every_service(services):
    assert set(services) >= {
        "proxy",
        "web",
        "worker",
        "beat",
        "migrate",
        "roles",
        "postgres",
        "redis",
        "mailpit",
    }


@pytest.mark.parametrize(("name", "expected"), APP_COMMANDS.items())
def test_app_services_run_their_ews_command(services, name, expected):
    service = services[name]
    assert _command(service)[: len(expected)] == expected
    assert "build" in service or "image" in service
    assert service.get("env_file") in (".env", [".env"])


def test_every_long_running_service_has_a_healthcheck(services):
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name}'s healthcheck is disabled"
        assert check.get("test"), f"{name}'s healthcheck has no test"


def test_health_probes_ask_the_right_thing(services):
    assert "/api/v1/health" in json.dumps(services["web"]["healthcheck"]["test"])
    assert "https://127.0.0.1/api/v1/health" in services["proxy"]["healthcheck"]["test"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_worker_can_be_scaled(services):
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker.get("deploy", {}).get("replicas", 1) >= 1


def test_there_is_exactly_one_beat(services):
    beat = services["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert sum(_command(s)[:2] == ["ews", "beat"] for s in services.values()) == 1


def test_redis_never_evicts_and_persists(services):
    command = " ".join(_command(services["redis"]))
    assert "--maxmemory-policy noeviction" in command
    assert "--appendonly yes" in command
    assert any(v.split(":")[1] == "/data" for v in services["redis"]["volumes"])


def test_postgres_is_16_with_a_volume(services):
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert any(v.split(":")[1] == "/var/lib/postgresql/data" for v in postgres["volumes"])


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_waits_for_migration_and_healthy_backing_services(services, name):
    depends_on = services[name]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_migrate_runs_once_after_postgres(services):
    migrate = services["migrate"]
    assert migrate.get("restart", "no") == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_waits_for_the_application_role(services, name):
    assert services[name]["depends_on"]["roles"]["condition"] == "service_completed_successfully"


def test_roles_runs_once_after_migrate_for_the_role_the_app_connects_as(services):
    roles = services["roles"]
    assert roles.get("restart", "no") == "no"
    assert roles["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    command = _command(roles)
    assert command[command.index("--app-role") + 1] == DATABASE_ROLES["web"]
    # The password it sets is the one the app services' URL carries, and compose insists on it.
    assert re.fullmatch(r"\$\{EWS_APP_DB_PASSWORD:\?[^}]+\}", _environment(roles)["EWS_APP_DB_PASSWORD"])
    for name in ("web", "worker", "beat"):
        assert "${EWS_APP_DB_PASSWORD:?" in _environment(services[name])["EWS_DATABASE_URL"]


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_processes_never_see_the_owners_password(services, name):
    environment = _environment(services[name])
    assert "POSTGRES_PASSWORD" not in environment["EWS_DATABASE_URL"]
    # env_file hands every .env line to the container: the owner's password is blanked over it.
    assert services[name]["env_file"] in (".env", [".env"])
    assert environment["POSTGRES_PASSWORD"] == ""


def test_app_services_reach_the_other_services(services):
    for name in APP_COMMANDS:
        environment = {k: _interpolate(v) for k, v in _environment(services[name]).items()}
        assert environment["EWS_ENV"] == "production"
        assert environment["EWS_DATABASE_URL"].startswith(f"postgresql://{DATABASE_ROLES[name]}:")
        assert environment["EWS_DATABASE_URL"].endswith("@postgres:5432/ews")
        assert environment["EWS_REDIS_URL"] == "redis://redis:6379/0"
        assert environment["EWS_SMTP_HOST"] == "mailpit"
        assert environment["EWS_SMTP_PORT"] == "1025"
        # Compose itself refuses to start without a secret key: never a default.
        assert re.fullmatch(r"\$\{EWS_SECRET_KEY:\?[^}]+\}", _environment(services[name])["EWS_SECRET_KEY"])
    web = _environment(services["web"])
    assert (web["EWS_HOST"], web["EWS_PORT"]) == ("0.0.0.0", "8000")


def test_web_and_worker_share_the_certificate_storage(services):
    mounts = {}
    for name in ("web", "worker"):
        storage_dir = _environment(services[name])["EWS_STORAGE_DIR"]
        mounts[name] = next(
            v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == storage_dir
        )
    assert mounts["web"] == mounts["worker"]


def test_compose_volumes_are_declared(compose, services):
    named = {
        v.split(":")[0]
        for s in services.values()
        for v in map(_interpolate, s.get("volumes", []))
        if not v.startswith((".", "/"))
    }
    assert named <= set(compose["volumes"])
    assert len(named) >= 3  # PostgreSQL, Redis, certificates


def test_every_ews_variable_in_compose_is_a_setting():
    unknown = {v for v in EWS_VARIABLE.findall(COMPOSE_FILE.read_text()) if _field(v) not in SETTINGS_FIELDS}
    assert not unknown, f"not fields of ews_cases.settings.Settings: {sorted(unknown)}"


@pytest.mark.parametrize("name", APP_COMMANDS)
def test_compose_environment_is_valid_settings(services, name, clean_environment):
    for key, value in _environment(services[name]).items():
        clean_environment.setenv(key, _interpolate(value))
    settings = Settings()
    assert settings.env == "production"
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://")


# --- the reverse proxy in front of web (tests/test_proxy.py runs its configuration) ---------------------


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Target → (source, options) of the service's volumes, with compose's defaults filled in."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *options = _interpolate(volume).split(":")
        mounts[target] = (source, ",".join(options))
    return mounts


def test_only_the_proxy_is_published_web_is_not(services):
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy", "mailpit"}
    assert services["web"].get("expose") == ["8000"]
    # The Mailpit UI stays on loopback; the proxy is the one public entry: HTTPS, and HTTP for the redirect.
    assert [_interpolate(port) for port in services["mailpit"]["ports"]] == ["127.0.0.1:8025:8025"]
    assert [_interpolate(port) for port in services["proxy"]["ports"]] == ["443:443", "80:80"]


def test_the_proxy_runs_the_committed_configuration(services):
    proxy = services["proxy"]
    assert proxy["build"] == {"context": ".", "target": "proxy"}
    mounts = _mounts(proxy)
    source, options = mounts["/etc/nginx/nginx.conf"]
    assert (ROOT / source).resolve() == NGINX_CONFIG
    assert options == "ro"
    # The certificate folder is mounted where the configuration reads the certificate and key.
    tls_source, tls_options = mounts["/etc/nginx/tls"]
    assert tls_source.startswith(("./", "/"))
    assert tls_options == "ro"
    config = NGINX_CONFIG.read_text(encoding="utf-8")
    assert "ssl_certificate /etc/nginx/tls/fullchain.pem;" in config
    assert "ssl_certificate_key /etc/nginx/tls/privkey.pem;" in config
    # It reaches web on the compose network, once web is healthy.
    assert '"http://web:8000"' in config
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert proxy.get("restart") == "unless-stopped"


def test_web_trusts_exactly_the_one_proxy(services):
    environment = _environment(services["web"])
    assert environment["EWS_TRUSTED_PROXIES"] == "1"  # fixed, not from .env: the proxy sets the headers
    config = NGINX_CONFIG.read_text(encoding="utf-8")
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in config  # one entry, replaced
    for name in ("worker", "beat", "migrate"):
        assert "EWS_TRUSTED_PROXIES" not in _environment(services[name])


def test_the_proxy_image_is_debian_nginx_with_the_static_files():
    proxy = _stages()["proxy"]
    assert proxy[0] == ("FROM", "${PROXY_BASE_IMAGE} AS proxy")
    assert ("ARG", "PROXY_BASE_IMAGE=debian:bookworm-slim") in _instructions()
    installed = " ".join(args for name, args in proxy if name == "RUN" and "apt-get install" in args).split()
    assert "nginx" in installed
    # The configuration serves /static/ from where the image holds the app's static folder.
    assert ("COPY", "ews_cases/static /srv/ews/static") in proxy
    assert "alias /srv/ews/static/;" in NGINX_CONFIG.read_text(encoding="utf-8")
    assert [json.loads(args) for name, args in proxy if name == "CMD"] == [["nginx", "-g", "daemon off;"]]


# --- .env.example --------------------------------------------------------------------------------------


def test_every_ews_variable_in_env_example_is_a_setting():
    unknown = {v for v in EWS_VARIABLE.findall(ENV_EXAMPLE.read_text()) if _field(v) not in SETTINGS_FIELDS}
    assert not unknown, f"not fields of ews_cases.settings.Settings: {sorted(unknown)}"


def test_env_example_documents_every_setting():
    documented = {_field(v) for v in EWS_VARIABLE.findall(ENV_EXAMPLE.read_text())}
    assert not SETTINGS_FIELDS - documented, f"undocumented: {sorted(SETTINGS_FIELDS - documented)}"


def test_env_example_holds_no_secret():
    values = dotenv_values(ENV_EXAMPLE)
    assert values["EWS_SECRET_KEY"] in ("", None)
    assert values["POSTGRES_PASSWORD"] in ("", None)
    assert values["EWS_APP_DB_PASSWORD"] in ("", None)


def test_env_example_values_are_valid_settings(clean_environment):
    for key, value in dotenv_values(ENV_EXAMPLE).items():
        if key.startswith("EWS_") and value:
            clean_environment.setenv(key, value)
    clean_environment.setenv("EWS_ENV", "production")
    clean_environment.setenv("EWS_SECRET_KEY", "placeholder-secret-" + "x" * 32)
    Settings()


# --- Dockerfile ----------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            result.append((instruction.upper(), arguments.strip()))
    return result


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def _stages() -> dict[str, list[tuple[str, str]]]:
    """The instructions of each stage by its name (`FROM … AS name`; the unnamed last stage is `runtime`)."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for name, arguments in _instructions():
        if name == "FROM":
            words = arguments.split()
            current = stages.setdefault(words[2] if len(words) > 2 else "runtime", [])
        current.append((name, arguments))
    return stages


def test_dockerfile_builds_on_python_311_slim():
    arguments = " ".join(args for name, args in _instructions() if name in ("ARG", "FROM"))
    assert "python:3.11-slim" in arguments


def test_dockerfile_runs_ews_and_nothing_else():
    final = _final_stage()
    commands = [json.loads(args) for name, args in final if name in ("CMD", "ENTRYPOINT")]
    assert commands, "no CMD/ENTRYPOINT"
    assert commands[-1][0] == "ews"
    assert commands[-1] == ["ews", "web"]
    for command in commands:
        assert not {"pip", "playwright", "curl", "wget", "sh", "bash"} & set(command)


def test_dockerfile_downloads_nothing_at_run_time_and_no_browser():
    stages = _stages()
    assert _final_stage() == stages["runtime"]
    production = stages["build"] + stages["runtime"]  # the test stage is never part of the image
    text = " ".join(f"{name} {args}" for name, args in production).lower()
    assert "playwright" not in text
    assert "chromium" not in text
    assert "jre" not in text
    assert "[dev]" not in text  # no dev extras (Playwright, pytest) in the image
    assert "pip install ." in text
    assert ("COPY", "--from=build /opt/venv /opt/venv") in stages["runtime"]
    assert not any(name == "COPY" and "--from=test" in args for name, args in stages["runtime"])
    assert all(name not in ("ENTRYPOINT", "ADD") for name, _ in _final_stage())


def test_dockerfile_test_stage_installs_what_the_suite_needs_from_the_system():
    """`docker build --target test` holds every system package a test needs, so the run downloads none."""
    test = _stages()["test"]
    installed = " ".join(args for name, args in test if name == "RUN" and "apt-get install" in args).split()
    for package in (
        "postgresql",
        "chromium",
        "default-jre-headless",
        "npm",
        "poppler-utils",
        "qpdf",
        "nginx",
    ):
        assert package in installed, package
    runs = " ".join(args for name, args in test if name == "RUN")
    assert ".[dev]" in runs
    assert "npm ci" in runs
    assert [json.loads(args) for name, args in test if name == "CMD"] == [["scripts/dev", "test"]]
    allowed = {ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.startswith("!")}
    for name, arguments in test:
        if name == "COPY" and not arguments.startswith("--from"):
            for source in arguments.split()[:-1]:
                assert f"!{source}" in allowed, f"{source} is not in the build context (.dockerignore)"


def test_dockerfile_compiles_catalogues_at_build_time():
    runs = [args for name, args in _final_stage() if name == "RUN"]
    assert any("python -m ews_cases.i18n.build" in args for args in runs)


def test_dockerfile_runs_as_a_non_root_user_and_serves_port_8000():
    final = _final_stage()
    users = [args for name, args in final if name == "USER"]
    assert users, "runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8000") in final
    assert any(name == "HEALTHCHECK" and "/api/v1/health" in args for name, args in final)


def test_dockerfile_bakes_in_no_secret_and_only_known_settings():
    for name, arguments in _instructions():
        if name in ("ENV", "ARG"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN", arguments, re.IGNORECASE), arguments
    unknown = {v for v in EWS_VARIABLE.findall(DOCKERFILE.read_text()) if _field(v) not in SETTINGS_FIELDS}
    assert not unknown, f"not fields of ews_cases.settings.Settings: {sorted(unknown)}"


def test_dockerignore_keeps_secrets_and_local_data_out():
    patterns = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip() and ln[0] != "#"]
    assert "*" in patterns or {".env", "var", ".venv"} <= set(patterns)
    assert not {"!.env", "!var", "!.venv"} & set(patterns)


# --- production refuses to run without a secret key ----------------------------------------------------


def test_production_settings_without_secret_key_are_refused(clean_environment):
    with pytest.raises(ValidationError, match="EWS_SECRET_KEY"):
        Settings(env="production")


def test_create_app_does_not_start_in_production_without_secret_key(clean_environment, tmp_path):
    clean_environment.setenv("EWS_ENV", "production")
    clean_environment.setenv("EWS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError, match="EWS_SECRET_KEY"):
            create_app()
    finally:
        get_settings.cache_clear()


def test_production_app_starts_with_a_secret_key(settings):
    production = Settings(**{**settings.model_dump(), "env": "production", "secret_key": "s" * 48})
    app = create_app(production)
    assert app.config["SECRET_KEY"] == "s" * 48
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("weak", ["", "development-only-not-secret", "too-short-a-secret"])
def test_production_refuses_an_empty_development_or_short_secret_key(clean_environment, weak):
    with pytest.raises(ValidationError, match="EWS_SECRET_KEY"):
        Settings(env="production", secret_key=weak)
