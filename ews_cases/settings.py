"""One typed settings object, read from `EWS_*` environment variables (SPEC §8)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "development-only-not-secret"
#: The roles of SPEC §2 (the models' USER_ROLES; settings import nothing of the application).
ROLES = ("applicant", "reviewer", "coordinator", "auditor", "admin")
#: Who must use a second factor in production unless EWS_REQUIRE_2FA_ROLES says otherwise.
PRODUCTION_2FA_ROLES = ("admin", "coordinator", "auditor")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EWS_", env_file=None, extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    #: The password `ews db roles` gives the application's PostgreSQL role (docs/operations.md, "Database
    #: roles"); web, worker and beat read only their EWS_DATABASE_URL, which carries it.
    app_db_password: str | None = None
    redis_url: str | None = None
    broker_url: str | None = None
    secret_key: str | None = None
    public_url: str = "http://127.0.0.1:5000"
    storage_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 5000

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_sender: str = "EWS Entwicklungswerkstatt <ews@example.org>"
    #: Where `ews run` delivers mail when no SMTP server is configured (a local sink writing .eml files).
    mail_sink_dir: Path | None = None
    #: The programme office as every letter's signature names it: who writes, and how to reach them. The
    #: defaults say what to fill in; an operator sets all four before the first letter goes out.
    office_name: str = "Programmbüro der Entwicklungswerkstatt für kommunale Engagementstrategien"
    office_phone: str = "[Telefonnummer in EWS_OFFICE_PHONE eintragen]"
    office_email: str = "[E-Mail-Adresse in EWS_OFFICE_EMAIL eintragen]"
    #: The postal address on one line, parts separated by commas ("Straße 1, 40213 Düsseldorf").
    office_address: str = "[Postanschrift in EWS_OFFICE_ADDRESS eintragen]"
    #: The legal pages (`/impressum`, `/datenschutz`, `/barrierefreiheit`, web/legal.py). Their packaged German
    #: texts name the programme office above and these key facts; the defaults say what to fill in.
    #: The public body responsible for the service (Diensteanbieter, Verantwortlicher nach Art. 4 Nr. 7 DSGVO).
    legal_body: str = "[Name der verantwortlichen Behörde in EWS_LEGAL_BODY eintragen]"
    #: Who represents that body (§ 5 DDG), e.g. "vertreten durch die Ministerin …".
    legal_representative: str = "[Vertretungsberechtigte Person in EWS_LEGAL_REPRESENTATIVE eintragen]"
    #: How to reach the body's data protection officer (Art. 13 Abs. 1 lit. b DSGVO), on one line.
    data_protection_officer: str = (
        "[Kontakt der oder des Datenschutzbeauftragten in EWS_DATA_PROTECTION_OFFICER eintragen]"
    )
    #: The web pages of the supervisory authority (LDI NRW, on /datenschutz) and of the Ombudsstelle für
    #: barrierefreie Informationstechnik (on /barrierefreiheit): links people may follow, nothing is loaded
    #: from them. Check both when the statements are reviewed.
    supervisory_authority_url: str = "https://www.ldi.nrw.de"
    ombudsstelle_url: str = "https://www.lbbp.nrw.de/ombudsstelle"
    #: The day the accessibility statement was made or last reviewed (ISO date, BITV NRW).
    accessibility_statement_date: date | None = None
    #: A folder of operator-written HTML fragments `impressum.html`, `datenschutz.html`, `barrierefreiheit.html`:
    #: a file present there replaces the packaged text of that page (the page frame, heading and the
    #: feedback form stay). Unset or a file missing: the packaged text.
    legal_dir: Path | None = None

    outbox_batch_size: int = Field(default=50, ge=1, le=1000)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_retry_base_seconds: float = Field(default=30.0, gt=0)
    outbox_retry_max_seconds: float = Field(default=3600.0, gt=0)

    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    #: PostgreSQL connections each process keeps open. `ews web` sizes it to its threads (+ 2) unless set;
    #: elsewhere SQLAlchemy's default (5). A burst beyond it opens up to 10 more, closed again after use.
    db_pool_size: int | None = Field(default=None, ge=1, le=500)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    #: A web session ends after this many minutes without a request, and this many hours after the login.
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_lifetime_hours: int = Field(default=12, ge=1, le=7 * 24)
    #: Login throttling (counted in Redis across all web processes): failed logins per account and per client
    #: address within the window; at the limit, logins for that account or from that address wait until the
    #: window (counted from the first failure) is over.
    login_max_failures_per_account: int = Field(default=5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(default=10, ge=1, le=10_000)
    login_failure_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: API requests a minute per API token (per client address for requests without a token), counted in Redis
    #: across all web processes; beyond it the API answers 429 with `Retry-After`. 0: no limit.
    api_rate_limit: int = Field(default=600, ge=0, le=1_000_000)
    #: How many reverse proxies in front of `ews web` write `X-Forwarded-For/-Proto/-Host` (0: none, use the
    #: peer's address; ews_cases/http/proxies.py). The login limits per client address need the visitor's.
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    #: Retention (docs/privacy.md; services/retention.py): how long personal data is kept after its trigger.
    retention_unsuccessful_case_months: int = Field(default=12, ge=1, le=1200)
    retention_participating_case_years: int = Field(default=10, ge=1, le=100)
    retention_email_body_days: int = Field(default=90, ge=1, le=36_500)
    retention_inactive_account_months: int = Field(default=24, ge=1, le=1200)
    #: A password reset link is good once and for this many minutes.
    password_reset_link_minutes: int = Field(default=60, ge=5, le=24 * 60)
    #: An invitation link (`/zugang/<token>`) creates an account once, within this many days.
    invitation_valid_days: int = Field(default=14, ge=1, le=365)
    #: Roles that must log in to the pages with a second factor (TOTP), comma-separated; unset means
    #: `admin,coordinator,auditor` in production and none elsewhere. API bearer tokens are not affected.
    require_2fa_roles: str | None = None
    #: The programme's seal for the certificates' PAdES signature: a PKCS#12 file (key and certificate) and its
    #: password. Unset: development and tests make a self-signed seal under the data folder on first use;
    #: production issues unsealed PDFs and warns at every issuance.
    seal_p12: Path | None = None
    seal_password: str | None = None
    #: An optional logo (PNG or JPEG) printed at the top of every certificate.
    certificate_logo: Path | None = None
    #: The audit log's signed checkpoints (docs/audit.md §8, docs/operations.md "Signed checkpoints"). The origin
    #: line of every checkpoint; unset: the host and path of EWS_PUBLIC_URL followed by `/audit-log`.
    audit_log_origin: str | None = None
    #: The log's Ed25519 signing key, `PRIVATE+KEY+<name>+<key ID>+<key>` (`ews audit keygen` writes one), or
    #: the path of a file holding it. Keep it outside the database and its backups. Required in production;
    #: development and tests make one under the data folder on first use.
    audit_signing_key: str | None = None
    #: During a key rotation: further signing keys (each a key or a file path, comma-separated) that sign every
    #: checkpoint beside EWS_AUDIT_SIGNING_KEY, so verifiers holding an older key accept the new checkpoints.
    audit_previous_signing_keys: str | None = None
    #: The beat task writes a checkpoint this often (minutes) when the log has grown.
    audit_checkpoint_minutes: int = Field(default=10, ge=1, le=24 * 60)
    #: An RFC 3161 time-stamping authority (docs/audit.md §8): every checkpoint is timestamped there after it
    #: is signed (POST application/timestamp-query); unset: no timestamps. A TSA that is down does not stop
    #: checkpoints: the beat task asks again for every checkpoint still without a token.
    tsa_url: str | None = None
    #: PEM file with the TSA's certificate and/or the CA certificates it chains to; each reply is checked
    #: against it. Required in production when EWS_TSA_URL is set (else only the imprint is checked).
    tsa_certificate: Path | None = None
    tsa_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    default_locale: str = "de"
    timezone: str = "Europe/Berlin"

    #: `json` (one object per line, the default in production) or `text` (the default elsewhere).
    log_format: Literal["json", "text"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: If set, `/metrics` answers only requests with `Authorization: Bearer <token>` (401 otherwise). Unset, it
    #: answers 404 in production and is open elsewhere.
    metrics_token: str | None = None
    #: If set, `ews worker` serves its own Prometheus metrics (task durations) on this port.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @model_validator(mode="after")
    def _require_secret_outside_development(self) -> Settings:
        if self.env == "production":
            if not self.secret_key or self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "EWS_SECRET_KEY must be set to a random value of at least 32 characters "
                    "when EWS_ENV=production"
                )
        elif not self.secret_key:
            self.secret_key = DEV_SECRET_KEY
        if self.require_2fa_roles is None:
            self.require_2fa_roles = ",".join(PRODUCTION_2FA_ROLES) if self.env == "production" else ""
        unknown = self.second_factor_roles - set(ROLES)
        if unknown:
            raise ValueError(
                f"EWS_REQUIRE_2FA_ROLES names unknown roles {sorted(unknown)}; roles are {', '.join(ROLES)}"
            )
        origin = self.log_origin
        if not origin or any(c.isspace() or c == "+" for c in origin):
            raise ValueError(
                f"EWS_AUDIT_LOG_ORIGIN {origin!r} cannot name the audit log: no spaces, no '+' (C2SP tlog-checkpoint)"
            )
        if self.tsa_url and not self.tsa_url.startswith(("http://", "https://")):
            raise ValueError(f"EWS_TSA_URL {self.tsa_url!r} is not an http(s) URL")
        if self.env == "production" and self.tsa_url and not self.tsa_certificate:
            raise ValueError(
                "EWS_TSA_CERTIFICATE (the TSA's certificate chain as PEM) must be set with EWS_TSA_URL "
                "when EWS_ENV=production"
            )
        if self.log_format is None:
            self.log_format = "json" if self.env == "production" else "text"
        return self

    @property
    def second_factor_roles(self) -> frozenset[str]:
        """The roles of `EWS_REQUIRE_2FA_ROLES` as a set."""
        return frozenset(r.strip() for r in (self.require_2fa_roles or "").split(",") if r.strip())

    @property
    def sqlalchemy_url(self) -> str:
        """`EWS_DATABASE_URL`, or SQLite in the data folder; `postgresql://` means psycopg 3."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'ews.sqlite3').resolve()}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def log_origin(self) -> str:
        """`EWS_AUDIT_LOG_ORIGIN`, or `<host>[:port][/path]/audit-log` from `EWS_PUBLIC_URL`."""
        if self.audit_log_origin:
            return self.audit_log_origin.strip()
        public = urlsplit(self.public_url)
        return f"{public.netloc or 'localhost'}{public.path.rstrip('/')}/audit-log"

    @property
    def certificate_dir(self) -> Path:
        return self.storage_dir or (self.data_dir / "storage")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead)."""
    return Settings()


def current_settings() -> Settings:
    """The settings of the running Flask app if there is one, else the process-wide ones."""
    from flask import current_app, has_app_context

    if has_app_context() and "ews" in current_app.extensions:
        return current_app.extensions["ews"].settings
    return get_settings()
