"""Settings: the only module that reads the environment.

Every setting is one row of ``SETTINGS``; the README's settings table is checked
against it by a test, so the docs cannot drift from the code.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from app.platform import setting_values
from app.platform.mail import SmtpConfig, parse_smtp_url
from app.platform.setting_values import SettingsError

VAR_DIR = Path("var")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    doc: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "ENVIRONMENT",
        "development",
        "`development` or `production`. Production refuses to start without "
        "`SECRET_KEYS` and turns the demo page off.",
        setting_values.environment,
    ),
    Setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy URL. Empty means the SQLite file `./var/nps-beacon.sqlite3`; "
        "use `postgresql://user@host/db` for several workers or hosts.",
    ),
    Setting(
        "DATABASE_LOCK_TIMEOUT",
        "3",
        "Seconds a request's write waits, for a write thread and then for a lock another "
        "transaction holds (a row on PostgreSQL, the database on SQLite), before it answers "
        "503 with Retry-After. The worker and commands wait up to 30 s.",
        setting_values.seconds,
    ),
    Setting(
        "DATABASE_STATEMENT_TIMEOUT",
        "30",
        "Seconds one statement of a request may run on PostgreSQL before it is cancelled "
        "(a 503). The worker, commands and migrations have no such limit.",
        setting_values.seconds,
    ),
    Setting(
        "SECRET_KEYS",
        "",
        "Comma-separated signing keys: the first signs, all verify (rotation). "
        "In development a key is generated once and kept in `./var/secret_key`.",
    ),
    Setting(
        "PUBLIC_URL",
        "http://127.0.0.1:8000",
        "The address visitors reach the service at; used in snippets and links.",
        lambda v: v.rstrip("/"),
    ),
    Setting(
        "ALLOWED_HOSTS",
        "",
        "Comma-separated host names accepted in the `Host` header besides `PUBLIC_URL`'s; "
        "`*.example.com` for subdomains, `*` for any. Other hosts get a 400. Empty: only "
        "`PUBLIC_URL`'s host in production, any host in development. `/healthz` answers "
        "whatever the host, for load balancers that probe by address.",
        setting_values.hosts,
    ),
    Setting(
        "BILLING_TIMEZONE",
        "UTC",
        "IANA time zone whose calendar months are the billing periods.",
        setting_values.timezone,
    ),
    Setting(
        "DISPLAY_TOKEN_MAX_AGE",
        "86400",
        "Seconds a display token stays valid after the survey was shown.",
        setting_values.positive_int,
    ),
    Setting(
        "RATE_LIMIT_ENABLED", "true", "Turn all rate limits on or off.", setting_values.boolean
    ),
    Setting(
        "RATE_LIMIT_STORAGE_URL",
        "memory://",
        "Where rate-limit windows are counted: `memory://` (per process) or "
        "`redis://host:6379/0` (shared by all workers and hosts).",
    ),
    Setting(
        "RATE_LIMIT_WIDGET",
        "120/minute",
        "Limit per client address on the widget config endpoint.",
        setting_values.rate,
    ),
    Setting(
        "RATE_LIMIT_RESPONSES",
        "30/minute",
        "Limit per client address on submissions: API responses, link answers and "
        "link comments count in one window.",
        setting_values.rate,
    ),
    Setting(
        "RATE_LIMIT_RECORDS",
        "600/minute",
        "Limit per API key on the records API: a record or a whole batch counts once, "
        "and status lookups have a window of their own.",
        setting_values.rate,
    ),
    Setting(
        "RATE_LIMIT_API_KEY_FAILURES",
        "10/minute",
        "Limit per client address on records API requests with a missing, unknown or "
        "revoked API key; past it the address gets 429 before any key is looked up, "
        "while a key valid within its window keeps working.",
        setting_values.rate,
    ),
    Setting(
        "RATE_LIMIT_LOGIN",
        "10/minute",
        "Limit per client address on admin login attempts.",
        setting_values.rate,
    ),
    Setting(
        "FORWARDED_ALLOW_IPS",
        "127.0.0.1",
        "Comma-separated proxy addresses whose `X-Forwarded-For` is trusted "
        "(handed to uvicorn); `*` trusts every peer, empty none. The default trusts "
        "loopback, right behind a proxy on the same host. When uvicorn faces clients "
        "directly, set the proxy's address or leave it empty: anyone reaching the "
        "server over loopback could otherwise pick their own address and rate-limit key.",
    ),
    Setting(
        "SESSION_HTTPS_ONLY",
        "false",
        "Mark the admin session cookie `Secure` (set it behind HTTPS).",
        setting_values.boolean,
    ),
    Setting(
        "SMTP_URL",
        "",
        "The mail server invitations and alerts go through: `smtp://user:pass@host:port`, "
        "`smtps://` for TLS from the start, `?starttls=1` for STARTTLS (user and password "
        "percent-encoded). Empty: messages are written to `./var/outbox/` as `.eml` files; "
        "in production the worker refuses to start without it.",
        setting_values.smtp_url,
    ),
    Setting(
        "MAIL_FROM",
        "nps-beacon <noreply@localhost>",
        "The sender of every message, e.g. `Shop feedback <feedback@shop.example>`.",
        setting_values.mail_from,
    ),
    Setting(
        "SMTP_DEADLINE",
        "120",
        "Seconds one conversation with the mail server may take, from connecting to QUIT, "
        "for a batch of up to 50 messages; what is not sent by then is tried again later. "
        "At most 240.",
        setting_values.deadline,
    ),
    Setting(
        "WEBHOOK_DEADLINE",
        "15",
        "Seconds a webhook attempt may take, from connecting to the answer's last byte; "
        "a receiver that has not answered by then has failed this attempt, which is "
        "tried again later. At most 240.",
        setting_values.deadline,
    ),
    Setting(
        "RETENTION_MONTHS",
        "0",
        "Months after which comments and recipients' data (finished invitations, their "
        "records, addresses with nothing left) are deleted; scores stay for the figures. "
        "The worker applies it hourly, `nps-beacon retention` at once. 0 keeps everything.",
        setting_values.months,
    ),
    Setting(
        "METRICS",
        "off",
        "`on` serves Prometheus figures at `/metrics` (requests and latency by route, "
        "answers and records taken or refused, invitations, webhook deliveries, rate-limit "
        "hits, database connections), summed over the host's processes; keep the path "
        "private at the proxy.",
        setting_values.on_off,
    ),
    Setting(
        "METRICS_DIR",
        "",
        "Where the host's processes keep their figures for `/metrics`; empty means "
        "`./var/metrics`. The web server and the worker of one host share it.",
    ),
    Setting(
        "LOG_FORMAT",
        "text",
        "`text`, or `json` for one JSON object per line: every request with its id, "
        "method, route template, status and duration, and every other message with the "
        "id of the request it belongs to.",
        setting_values.log_format,
    ),
    Setting(
        "LOG_LEVEL",
        "info",
        "Python logging level: debug, info, warning, error.",
        lambda v: v.lower(),
    ),
)


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    database_url: str = ""
    database_lock_timeout: float = 3.0
    database_statement_timeout: float = 30.0
    secret_keys: tuple[str, ...] = ()
    public_url: str = "http://127.0.0.1:8000"
    allowed_hosts: tuple[str, ...] = ()
    billing_timezone: str = "UTC"
    display_token_max_age: int = 86400
    rate_limit_enabled: bool = True
    rate_limit_storage_url: str = "memory://"
    rate_limit_widget: str = "120/minute"
    rate_limit_responses: str = "30/minute"
    rate_limit_records: str = "600/minute"
    rate_limit_api_key_failures: str = "10/minute"
    rate_limit_login: str = "10/minute"
    forwarded_allow_ips: str = "127.0.0.1"
    session_https_only: bool = False
    smtp_url: str = field(default="", repr=False)  # may hold a password
    mail_from: str = "nps-beacon <noreply@localhost>"
    smtp_deadline: int = 120
    webhook_deadline: int = 15
    retention_months: int = 0
    metrics: bool = False
    metrics_dir: str = ""
    log_format: str = "text"
    log_level: str = "info"
    var_dir: Path = field(default=VAR_DIR)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.billing_timezone)

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """The Host header values to answer: PUBLIC_URL's host and ALLOWED_HOSTS,
        or any host (``*``) in development while ALLOWED_HOSTS is unset."""
        if "*" in self.allowed_hosts or not (self.allowed_hosts or self.production):
            return ("*",)
        public = (urlsplit(self.public_url).hostname or "").lower()
        return tuple(dict.fromkeys(host for host in (public, *self.allowed_hosts) if host))

    @property
    def smtp(self) -> SmtpConfig | None:
        """The mail server, or None: messages then go to ``var/outbox/``."""
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    @property
    def metrics_path(self) -> Path:
        return Path(self.metrics_dir) if self.metrics_dir else self.var_dir / "metrics"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'nps-beacon.sqlite3'}"

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment; raise SettingsError on a bad value."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.name, setting.default)
        try:
            values[setting.name.lower()] = _parse(setting, raw)
        except (ValueError, SettingsError) as exc:
            raise SettingsError(f"{setting.name}: {exc}") from exc
    settings = Settings(**values)
    if not settings.secret_keys:
        if settings.production:
            raise SettingsError("SECRET_KEYS must be set when ENVIRONMENT=production")
        settings = settings.replace(secret_keys=(_development_key(settings.var_dir),))
    return settings


def _parse(setting: Setting, raw: str) -> Any:
    if setting.name == "SECRET_KEYS":
        return setting_values.keys(raw)
    return setting.parse(raw)


def _development_key(var_dir: Path) -> str:
    """A key kept under ./var so development restarts keep embed keys valid."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
