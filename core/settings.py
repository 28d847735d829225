"""Settings, one small dataclass per concern, read from ``KYODO_*`` variables once.

Every field names its environment variable and has a default that works on one
machine with no configuration (embedded PostgreSQL and Redis in the data folder).
The README lists every variable; ``tests/kyodo/test_settings.py`` keeps the two in step.
"""

from __future__ import annotations

import enum
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "DEMO_INVOICE_ENVIRONMENT",
    "AlertSettings",
    "AppSettings",
    "BackupSettings",
    "BlobSettings",
    "ContractSettings",
    "DatabaseSettings",
    "IntegrationSettings",
    "InvoiceSettings",
    "KeySource",
    "MailSettings",
    "RedisSettings",
    "ReportingSettings",
    "SealSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SigningSettings",
    "WorkerSettings",
    "get_settings",
]


def _raw(name: str) -> str | None:
    """The variable's value, or the content of the file ``<name>_FILE`` names (container secrets)."""
    value = os.environ.get(name)
    if value is None and (path := os.environ.get(f"{name}_FILE")):
        return Path(path).read_text(encoding="utf-8").strip()
    return value


def _env(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def _env_int(name: str, default: int) -> int:
    raw = _raw(name)
    return int(raw) if raw not in (None, "") else default


def _env_float(name: str, default: float) -> float:
    raw = _raw(name)
    return float(raw) if raw not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_opt(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return value if value not in (None, "") else default


def _env_path(name: str) -> Path | None:
    value = _env_opt(name)
    return Path(value) if value else None


def _env_paths(name: str) -> tuple[Path, ...]:
    # os.pathsep keeps the same convention as PATH: ':' on POSIX.
    value = _env_opt(name)
    return tuple(Path(p) for p in value.split(os.pathsep) if p) if value else ()


@dataclass(frozen=True)
class AppSettings:
    """Where the platform keeps its files and how it presents itself."""

    data_dir: Path = field(default_factory=lambda: Path(_env("KYODO_DATA_DIR", ".kyodo")).resolve())
    """KYODO_DATA_DIR: embedded PostgreSQL/Redis data, documents, test PKI, dev mailbox."""
    secret_key: str = field(default_factory=lambda: _env("KYODO_SECRET_KEY"))
    """KYODO_SECRET_KEY: signs cookies; generated and kept in the data folder when unset."""
    default_locale: str = field(default_factory=lambda: _env("KYODO_DEFAULT_LOCALE", "ja"))
    """KYODO_DEFAULT_LOCALE: language of screens and mail when the user has not chosen (ja or en)."""
    debug: bool = field(default_factory=lambda: _env_bool("KYODO_DEBUG", False))
    """KYODO_DEBUG: show tracebacks in responses (never in production)."""
    log_level: str = field(default_factory=lambda: _env("KYODO_LOG_LEVEL", "INFO"))
    """KYODO_LOG_LEVEL: Python logging level for every process."""
    log_dir: Path | None = field(default_factory=lambda: _env_path("KYODO_LOG_DIR"))
    """KYODO_LOG_DIR: every process appends JSON lines to <dir>/<process>-<host>-<day>.jsonl; unset = none."""
    log_retention_days: int = field(default_factory=lambda: _env_int("KYODO_LOG_RETENTION_DAYS", 366))
    """KYODO_LOG_RETENTION_DAYS: days the log files are kept (365 at least)."""

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Written with O_EXCL so two processes starting together agree on one key.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


@dataclass(frozen=True)
class ServerSettings:
    """The HTTP server."""

    host: str = field(default_factory=lambda: _env("KYODO_HOST", "127.0.0.1"))
    """KYODO_HOST: address the web server listens on."""
    port: int = field(default_factory=lambda: _env_int("KYODO_PORT", 8000))
    """KYODO_PORT: port the web server listens on."""
    web_workers: int = field(default_factory=lambda: _env_int("KYODO_WEB_WORKERS", min(4, max(2, os.cpu_count() or 1))))
    """KYODO_WEB_WORKERS: uvicorn worker processes of `kyodo serve` and `kyodo demo` (default one per core, 2 to 4)."""
    access_log: bool = field(default_factory=lambda: _env_bool("KYODO_ACCESS_LOG", False))
    """KYODO_ACCESS_LOG: uvicorn writes a line per request (off by default: the platform logs errors and telemetry)."""
    public_url: str = field(default_factory=lambda: _env("KYODO_PUBLIC_URL"))
    """KYODO_PUBLIC_URL: base URL used in e-mailed links (default http://HOST:PORT); contractors always get this one."""
    staff_url: str = field(default_factory=lambda: _env("KYODO_STAFF_URL"))
    """KYODO_STAFF_URL: base URL of links mailed to staff and operators when they reach the platform another way.

    A member on LGWAN reaches the staff screens through its LGWAN-side address
    (GUN-8(2), NII-2(1)) while contractors come from the internet; empty = KYODO_PUBLIC_URL.
    """

    def base_url(self) -> str:
        """The URL contractors (and anyone on the internet side) reach the platform at."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def staff_base_url(self) -> str:
        """The URL staff and operators reach the platform at (the LGWAN side, when it has one)."""
        return self.staff_url.rstrip("/") or self.base_url()


@dataclass(frozen=True)
class DatabaseSettings:
    """PostgreSQL, the system of record."""

    url: str = field(default_factory=lambda: _env("KYODO_DATABASE_URL"))
    """KYODO_DATABASE_URL: external PostgreSQL (postgresql://user:pass@host:port/db); empty = embedded.

    The role in this URL must not be a superuser or have BYPASSRLS: row-level
    security is the second line of member isolation and the platform refuses to
    start otherwise.
    """
    admin_url: str = field(default_factory=lambda: _env("KYODO_DATABASE_ADMIN_URL"))
    """KYODO_DATABASE_ADMIN_URL: role that owns the schema and runs migrations (default: KYODO_DATABASE_URL)."""
    pool_size: int = field(default_factory=lambda: _env_int("KYODO_DATABASE_POOL_SIZE", 10))
    """KYODO_DATABASE_POOL_SIZE: connections kept open per process."""
    echo: bool = field(default_factory=lambda: _env_bool("KYODO_DATABASE_ECHO", False))
    """KYODO_DATABASE_ECHO: log every SQL statement (debugging only)."""

    @property
    def is_embedded(self) -> bool:
        """True when no external server is configured and the embedded one is used."""
        return not self.url

    def async_url(self) -> str:
        """The URL with SQLAlchemy's psycopg 3 driver name."""
        return to_psycopg_url(self.url)


@dataclass(frozen=True)
class RedisSettings:
    """Redis: Celery broker and results, sessions, rate limits, policy fan-out."""

    url: str = field(default_factory=lambda: _env("KYODO_REDIS_URL"))
    """KYODO_REDIS_URL: external Redis (redis://host:port/db); empty = embedded."""

    @property
    def is_embedded(self) -> bool:
        """True when no external server is configured and the embedded one is used."""
        return not self.url


@dataclass(frozen=True)
class WorkerSettings:
    """Celery worker and beat."""

    concurrency: int = field(
        default_factory=lambda: _env_int("KYODO_WORKER_CONCURRENCY", min(8, 2 * (os.cpu_count() or 1)))
    )
    """KYODO_WORKER_CONCURRENCY: worker processes per `kyodo worker` (default two per core: a seal
    spends most of its time waiting for the timestamp and revocation servers)."""
    heartbeat_seconds: float = field(default_factory=lambda: _env_float("KYODO_WORKER_HEARTBEAT_SECONDS", 5.0))
    """KYODO_WORKER_HEARTBEAT_SECONDS: how often a worker reports it is alive to /health/ready."""
    outbox_relay_seconds: float = field(default_factory=lambda: _env_float("KYODO_OUTBOX_RELAY_SECONDS", 5.0))
    """KYODO_OUTBOX_RELAY_SECONDS: how often beat relays outbox rows left behind to Celery."""
    relay_inline: bool = field(default_factory=lambda: _env_bool("KYODO_OUTBOX_RELAY_INLINE", True))
    """KYODO_OUTBOX_RELAY_INLINE: web processes relay outbox rows themselves right after each commit
    (false: they ask a worker to, through a relay task)."""
    seal_lease_seconds: int = field(default_factory=lambda: _env_int("KYODO_SEAL_LEASE_SECONDS", 900))
    """KYODO_SEAL_LEASE_SECONDS: a seal attempt silent this long (its worker died) is sent again by beat."""
    mail_lease_seconds: int = field(default_factory=lambda: _env_int("KYODO_MAIL_LEASE_SECONDS", 120))
    """KYODO_MAIL_LEASE_SECONDS: a mail attempt silent this long (its worker died) is sent again by beat.

    Keep it well above the SMTP timeout (20 s per exchange): an attempt still talking
    to a slow server when its lease runs out may be sent a second time.
    """
    beat_lock_seconds: int = field(default_factory=lambda: _env_int("KYODO_BEAT_LOCK_SECONDS", 30))
    """KYODO_BEAT_LOCK_SECONDS: a beat that stopped extending its lock this long is replaced by a waiting one."""


@dataclass(frozen=True)
class SecuritySettings:
    """Sign-in, sessions and lockout."""

    session_idle_minutes: int = field(default_factory=lambda: _env_int("KYODO_SESSION_IDLE_MINUTES", 30))
    """KYODO_SESSION_IDLE_MINUTES: a staff session ends after this long without a request."""
    session_absolute_hours: int = field(default_factory=lambda: _env_int("KYODO_SESSION_ABSOLUTE_HOURS", 10))
    """KYODO_SESSION_ABSOLUTE_HOURS: a staff session ends this long after sign-in, whatever happens."""
    login_max_attempts: int = field(default_factory=lambda: _env_int("KYODO_LOGIN_MAX_ATTEMPTS", 5))
    """KYODO_LOGIN_MAX_ATTEMPTS: wrong passwords in a row before the account is locked."""
    login_lock_minutes: int = field(default_factory=lambda: _env_int("KYODO_LOGIN_LOCK_MINUTES", 15))
    """KYODO_LOGIN_LOCK_MINUTES: how long a locked account stays locked."""
    secure_cookies: bool = field(default_factory=lambda: _env_bool("KYODO_SECURE_COOKIES", False))
    """KYODO_SECURE_COOKIES: send cookies only over HTTPS (set to true behind TLS)."""
    operator_networks: tuple[str, ...] = field(
        default_factory=lambda: tuple(n.strip() for n in _env("KYODO_OPERATOR_NETWORKS").split(",") if n.strip())
    )
    """KYODO_OPERATOR_NETWORKS: comma-separated CIDRs operators may sign in from (empty = anywhere)."""
    sign_in_per_minute: int = field(default_factory=lambda: _env_int("KYODO_SIGN_IN_PER_MINUTE", 120))
    """KYODO_SIGN_IN_PER_MINUTE: sign-in attempts one address may make per minute (0: no limit)."""
    link_per_minute: int = field(default_factory=lambda: _env_int("KYODO_LINK_PER_MINUTE", 60))
    """KYODO_LINK_PER_MINUTE: links opened and contractor passwords tried per address and minute (0: no limit)."""
    api_per_minute: int = field(default_factory=lambda: _env_int("KYODO_API_PER_MINUTE", 1200))
    """KYODO_API_PER_MINUTE: requests with an API key one address may make per minute (0: no limit)."""
    trusted_proxies: tuple[str, ...] = field(
        default_factory=lambda: tuple(n.strip() for n in _env("KYODO_TRUSTED_PROXIES").split(",") if n.strip())
    )
    """KYODO_TRUSTED_PROXIES: comma-separated addresses/CIDRs of load balancers whose X-Forwarded-For is believed."""


MIN_FILE_MB = 20
MIN_CONTRACT_MB = 50
MIN_FILES = 5


@dataclass(frozen=True)
class ContractSettings:
    """Contracts: upload limits, links, reminders, document storage and retention."""

    max_file_mb: int = field(default_factory=lambda: max(MIN_FILE_MB, _env_int("KYODO_MAX_FILE_MB", MIN_FILE_MB)))
    """KYODO_MAX_FILE_MB: largest PDF accepted per file, in MB (never below 20)."""
    max_verify_mb: int = field(default_factory=lambda: _env_int("KYODO_MAX_VERIFY_MB", 60))
    """KYODO_MAX_VERIFY_MB: largest file the public verification page and API accept, in MB."""
    max_import_mb: int = field(default_factory=lambda: _env_int("KYODO_MAX_IMPORT_MB", 20))
    """KYODO_MAX_IMPORT_MB: largest staff CSV an administrator may upload, in MB."""
    max_contract_mb: int = field(
        default_factory=lambda: max(MIN_CONTRACT_MB, _env_int("KYODO_MAX_CONTRACT_MB", MIN_CONTRACT_MB))
    )
    """KYODO_MAX_CONTRACT_MB: total size of the PDFs of one contract, in MB (never below 50)."""
    max_files: int = field(default_factory=lambda: max(MIN_FILES, _env_int("KYODO_MAX_FILES", MIN_FILES)))
    """KYODO_MAX_FILES: PDFs per contract (never below 5)."""
    max_pages: int = field(default_factory=lambda: _env_int("KYODO_MAX_PAGES", 2000))
    """KYODO_MAX_PAGES: pages of one PDF, at most."""
    max_depth: int = field(default_factory=lambda: _env_int("KYODO_MAX_PDF_DEPTH", 100))
    """KYODO_MAX_PDF_DEPTH: how deep a PDF's objects may be nested (dictionaries and arrays below the trailer)."""
    check_timeout_seconds: float = field(default_factory=lambda: _env_float("KYODO_PDF_CHECK_SECONDS", 20.0))
    """KYODO_PDF_CHECK_SECONDS: time one PDF check or page preview may take; longer is refused as too complex."""
    check_memory_mb: int = field(default_factory=lambda: _env_int("KYODO_PDF_CHECK_MEMORY_MB", 1024))
    """KYODO_PDF_CHECK_MEMORY_MB: memory one PDF check or page preview may take, in MB, beyond the checker's own."""
    check_processes: int = field(default_factory=lambda: _env_int("KYODO_PDF_CHECK_PROCESSES", 2))
    """KYODO_PDF_CHECK_PROCESSES: PDF checks and page previews run at once per web process, each in its own process."""
    link_days: int = field(default_factory=lambda: _env_int("KYODO_LINK_DAYS", 14))
    """KYODO_LINK_DAYS: how long an e-mailed signing link stays valid."""
    portal_link_minutes: int = field(default_factory=lambda: _env_int("KYODO_PORTAL_LINK_MINUTES", 15))
    """KYODO_PORTAL_LINK_MINUTES: how long a contractor portal sign-in link stays valid (it works once)."""
    portal_session_minutes: int = field(default_factory=lambda: _env_int("KYODO_PORTAL_SESSION_MINUTES", 60))
    """KYODO_PORTAL_SESSION_MINUTES: how long the contractor portal stays open after its sign-in link is used."""
    portal_links_per_hour: int = field(default_factory=lambda: _env_int("KYODO_PORTAL_LINKS_PER_HOUR", 3))
    """KYODO_PORTAL_LINKS_PER_HOUR: sign-in links one address may ask for in an hour (a client address: ten times)."""
    reminder_hours: int = field(default_factory=lambda: _env_int("KYODO_REMINDER_HOURS", 72))
    """KYODO_REMINDER_HOURS: a party who has not answered is reminded after this long (and again after as long)."""
    contractor_max_attempts: int = field(default_factory=lambda: _env_int("KYODO_CONTRACTOR_MAX_ATTEMPTS", 5))
    """KYODO_CONTRACTOR_MAX_ATTEMPTS: wrong access passwords before a contractor's link is locked."""
    master_key: str = field(default_factory=lambda: _env("KYODO_MASTER_KEY"))
    """KYODO_MASTER_KEY: base64 of 32 bytes wrapping each member's document key (generated into the data folder)."""
    previous_master_keys: tuple[str, ...] = field(
        default_factory=lambda: tuple(k.strip() for k in _env("KYODO_MASTER_KEY_PREVIOUS").split(",") if k.strip()),
        repr=False,
    )
    """KYODO_MASTER_KEY_PREVIOUS: comma-separated earlier master keys, still read while `kyodo keys rotate` re-wraps."""
    operation_log_years: int = field(default_factory=lambda: _env_int("KYODO_OPERATION_LOG_YEARS", 3))
    """KYODO_OPERATION_LOG_YEARS: staff operation logs older than this are purged (contract trails never)."""


@dataclass(frozen=True)
class MailSettings:
    """Outgoing mail (SMTP) and the development mailbox."""

    smtp_host: str = field(default_factory=lambda: _env("KYODO_SMTP_HOST"))
    """KYODO_SMTP_HOST: SMTP server; empty = the development mailbox (demo only)."""
    smtp_port: int = field(default_factory=lambda: _env_int("KYODO_SMTP_PORT", 25))
    """KYODO_SMTP_PORT: port of the SMTP server."""
    smtp_user: str = field(default_factory=lambda: _env("KYODO_SMTP_USER"))
    """KYODO_SMTP_USER: SMTP login (empty: no authentication)."""
    smtp_password: str = field(default_factory=lambda: _env("KYODO_SMTP_PASSWORD"))
    """KYODO_SMTP_PASSWORD: SMTP password."""
    smtp_starttls: bool = field(default_factory=lambda: _env_bool("KYODO_SMTP_STARTTLS", False))
    """KYODO_SMTP_STARTTLS: upgrade the SMTP connection with STARTTLS."""
    mail_from: str = field(default_factory=lambda: _env("KYODO_MAIL_FROM", "Kyodo <no-reply@kyodo.invalid>"))
    """KYODO_MAIL_FROM: sender address of every mail."""
    dev_mailbox: bool = field(default_factory=lambda: _env_bool("KYODO_DEV_MAILBOX", False))
    """KYODO_DEV_MAILBOX: catch mail in a local mailbox shown at /dev/mail (demo/development only)."""
    dev_mailbox_port: int = field(default_factory=lambda: _env_int("KYODO_DEV_MAILBOX_PORT", 0))
    """KYODO_DEV_MAILBOX_PORT: port of the development mailbox's SMTP server (0: a free port chosen by the demo)."""


class KeySource(enum.StrEnum):
    """Where the provider's private key is kept."""

    PKCS12 = "pkcs12"
    PKCS11 = "pkcs11"


@dataclass(frozen=True)
class SigningSettings:
    """How to reach the provider's signing key and the trust services."""

    key_source: KeySource = field(default_factory=lambda: KeySource(_env_opt("KYODO_SIGNING_KEY_SOURCE") or "pkcs12"))
    """``pkcs12`` (key file, e.g. the test PKI or a software seal) or ``pkcs11`` (HSM/token)."""

    pkcs12_path: Path | None = field(default_factory=lambda: _env_path("KYODO_SIGNING_PKCS12_PATH"))
    """PKCS#12 (.p12/.pfx) file holding the provider key, its certificate and chain."""

    pkcs12_passphrase: str | None = field(
        default_factory=lambda: _env_opt("KYODO_SIGNING_PKCS12_PASSPHRASE"), repr=False
    )
    """Passphrase of the PKCS#12 file."""

    pkcs11_module: Path | None = field(default_factory=lambda: _env_path("KYODO_SIGNING_PKCS11_MODULE"))
    """Path of the PKCS#11 module (.so) of the HSM or token."""

    pkcs11_token_label: str | None = field(default_factory=lambda: _env_opt("KYODO_SIGNING_PKCS11_TOKEN_LABEL"))
    """Label of the token holding the key."""

    pkcs11_key_label: str | None = field(default_factory=lambda: _env_opt("KYODO_SIGNING_PKCS11_KEY_LABEL"))
    """Label of the private key object on the token."""

    pkcs11_cert_label: str | None = field(default_factory=lambda: _env_opt("KYODO_SIGNING_PKCS11_CERT_LABEL"))
    """Label of the certificate object on the token (defaults to the key label)."""

    pkcs11_pin: str | None = field(default_factory=lambda: _env_opt("KYODO_SIGNING_PKCS11_PIN"), repr=False)
    """User PIN of the token."""

    tsa_url: str = field(default_factory=lambda: _env_opt("KYODO_SIGNING_TSA_URL", "") or "")
    """RFC 3161 time-stamping service URL."""

    tsa_username: str | None = field(default_factory=lambda: _env_opt("KYODO_SIGNING_TSA_USERNAME"))
    """HTTP basic-auth user for the TSA, if it requires one."""

    tsa_password: str | None = field(default_factory=lambda: _env_opt("KYODO_SIGNING_TSA_PASSWORD"), repr=False)
    """HTTP basic-auth password for the TSA."""

    trust_root_paths: tuple[Path, ...] = field(default_factory=lambda: _env_paths("KYODO_SIGNING_TRUST_ROOTS"))
    """PEM/DER files of the root certificates the provider and TSA chain up to."""

    extra_cert_paths: tuple[Path, ...] = field(default_factory=lambda: _env_paths("KYODO_SIGNING_EXTRA_CERTS"))
    """Intermediate certificates not already inside the PKCS#12 file or token."""

    http_timeout: float = field(default_factory=lambda: float(_env_opt("KYODO_SIGNING_HTTP_TIMEOUT", "10") or "10"))
    """Seconds to wait for one TSA, OCSP or CRL answer before giving up."""

    revocation_reuse_seconds: float = field(
        default_factory=lambda: float(_env_opt("KYODO_SIGNING_REVOCATION_REUSE_SECONDS", "60") or "0")
    )
    """How long a sealer reuses the OCSP responses and CRLs it fetched (0: fetch them for every seal)."""

    def problem(self) -> str | None:
        """What makes these settings unusable (a missing or contradictory field), or None."""
        if not self.tsa_url:
            return "KYODO_SIGNING_TSA_URL is not set"
        if not self.trust_root_paths:
            return "KYODO_SIGNING_TRUST_ROOTS is not set"
        if self.key_source is KeySource.PKCS12:
            if self.pkcs12_path is None:
                return "KYODO_SIGNING_PKCS12_PATH is not set"
        elif self.pkcs11_module is None or self.pkcs11_key_label is None:
            return "PKCS#11 needs KYODO_SIGNING_PKCS11_MODULE and KYODO_SIGNING_PKCS11_KEY_LABEL"
        return None


@dataclass(frozen=True)
class SealSettings:
    """The seal's font, when sealed documents get fresh timestamps, and the sandbox's test certificate.

    The provider key and TSA are :class:`SigningSettings` (``Settings.seal_key``).
    """

    font_path: Path | None = field(default_factory=lambda: _env_path("KYODO_SIGNING_FONT_PATH"))
    """KYODO_SIGNING_FONT_PATH: a TrueType font for text boxes and certificates instead of the bundled IPAexGothic."""
    sandbox_pkcs12_path: Path | None = field(default_factory=lambda: _env_path("KYODO_SIGNING_SANDBOX_PKCS12_PATH"))
    """KYODO_SIGNING_SANDBOX_PKCS12_PATH: the clearly labelled test certificate for members in sandbox or trial."""
    sandbox_pkcs12_passphrase: str | None = field(
        default_factory=lambda: _env_opt("KYODO_SIGNING_SANDBOX_PKCS12_PASSPHRASE"), repr=False
    )
    """KYODO_SIGNING_SANDBOX_PKCS12_PASSPHRASE: its passphrase (default: the provider file's)."""
    sandbox_tsa_url: str = field(default_factory=lambda: _env("KYODO_SIGNING_SANDBOX_TSA_URL"))
    """KYODO_SIGNING_SANDBOX_TSA_URL: the sandbox's TSA (default: the provider's)."""
    sandbox_trust_root_paths: tuple[Path, ...] = field(
        default_factory=lambda: _env_paths("KYODO_SIGNING_SANDBOX_TRUST_ROOTS")
    )
    """KYODO_SIGNING_SANDBOX_TRUST_ROOTS: roots of the sandbox certificate (default: the provider's)."""

    renewal_margin_days: int = field(default_factory=lambda: _env_int("KYODO_SIGNING_RENEWAL_MARGIN_DAYS", 180))
    """KYODO_SIGNING_RENEWAL_MARGIN_DAYS: renew this many days before the newest timestamp's TSA certificate expires."""


@dataclass(frozen=True)
class ReportingSettings:
    """Measurements behind the monthly SLA reports."""

    probe_seconds: float = field(default_factory=lambda: _env_float("KYODO_PROBE_SECONDS", 60.0))
    """KYODO_PROBE_SECONDS: how often beat checks the platform over HTTP like a user would."""
    telemetry_flush_seconds: float = field(default_factory=lambda: _env_float("KYODO_TELEMETRY_FLUSH_SECONDS", 5.0))
    """KYODO_TELEMETRY_FLUSH_SECONDS: how often a web process hands its request counts to Redis."""


@dataclass(frozen=True)
class BlobSettings:
    """Where encrypted documents are kept: the data folder, or an S3-compatible object store."""

    url: str = field(default_factory=lambda: _env("KYODO_BLOB_URL"))
    """KYODO_BLOB_URL: empty for <data dir>/blobs, or s3://bucket/prefix."""
    s3_endpoint: str = field(default_factory=lambda: _env("KYODO_S3_ENDPOINT"))
    """KYODO_S3_ENDPOINT: the object store's URL (empty for AWS S3 itself)."""
    s3_region: str = field(default_factory=lambda: _env("KYODO_S3_REGION", "ap-northeast-1"))
    """KYODO_S3_REGION: the bucket's region (Tokyo by default)."""
    s3_access_key_id: str = field(default_factory=lambda: _env("KYODO_S3_ACCESS_KEY_ID"))
    """KYODO_S3_ACCESS_KEY_ID: the access key (empty: the environment's credentials, e.g. an instance role)."""
    s3_secret_access_key: str = field(default_factory=lambda: _env("KYODO_S3_SECRET_ACCESS_KEY"), repr=False)
    """KYODO_S3_SECRET_ACCESS_KEY: its secret."""


@dataclass(frozen=True)
class AlertSettings:
    """Alerts mailed to the provider's operators by `kyodo watch`."""

    emails: tuple[str, ...] = field(
        default_factory=lambda: tuple(a.strip() for a in _env("KYODO_ALERT_EMAILS").split(",") if a.strip())
    )
    """KYODO_ALERT_EMAILS: comma-separated addresses that receive alerts and their 解消 mails."""
    interval_seconds: float = field(default_factory=lambda: _env_float("KYODO_ALERT_INTERVAL_SECONDS", 60.0))
    """KYODO_ALERT_INTERVAL_SECONDS: how often `kyodo watch` checks."""
    repeat_hours: float = field(default_factory=lambda: _env_float("KYODO_ALERT_REPEAT_HOURS", 6.0))
    """KYODO_ALERT_REPEAT_HOURS: an alert that lasts is mailed again after this long."""
    outbox_minutes: int = field(default_factory=lambda: _env_int("KYODO_ALERT_OUTBOX_MINUTES", 10))
    """KYODO_ALERT_OUTBOX_MINUTES: an outbox row unsent this long raises an alert."""
    seal_minutes: int = field(default_factory=lambda: _env_int("KYODO_ALERT_SEAL_MINUTES", 30))
    """KYODO_ALERT_SEAL_MINUTES: a contract waiting this long for its seal raises an alert."""
    cert_days: int = field(default_factory=lambda: _env_int("KYODO_ALERT_CERT_DAYS", 30))
    """KYODO_ALERT_CERT_DAYS: alert when the provider's signing certificate expires within this many days."""
    metrics_token: str = field(default_factory=lambda: _env("KYODO_METRICS_TOKEN"), repr=False)
    """KYODO_METRICS_TOKEN: bearer token Prometheus sends to /metrics (without it: loopback and operator networks)."""


@dataclass(frozen=True)
class BackupSettings:
    """Scheduled backups (DAT-5: daily, 8 generations)."""

    directory: Path | None = field(default_factory=lambda: _env_path("KYODO_BACKUP_DIR"))
    """KYODO_BACKUP_DIR: where the daily backup is written; unset = no scheduled backup."""
    copy_directory: Path | None = field(default_factory=lambda: _env_path("KYODO_BACKUP_COPY_DIR"))
    """KYODO_BACKUP_COPY_DIR: a second place, off the machine (a mounted share), that gets a verified copy."""
    keep: int = field(default_factory=lambda: _env_int("KYODO_BACKUP_KEEP", 8))
    """KYODO_BACKUP_KEEP: generations kept in each place; older ones are deleted after a good backup."""
    hour: int = field(default_factory=lambda: _env_int("KYODO_BACKUP_HOUR", 2))
    """KYODO_BACKUP_HOUR: hour of the day (Japan time) at which beat starts the backup."""


@dataclass(frozen=True)
class IntegrationSettings:
    """Webhooks to the member's other systems and invitations of new staff."""

    webhook_allow_private: bool = field(default_factory=lambda: _env_bool("KYODO_WEBHOOK_ALLOW_PRIVATE", False))
    """KYODO_WEBHOOK_ALLOW_PRIVATE: allow webhook targets on private, loopback or link-local addresses (LGWAN)."""
    webhook_timeout_seconds: float = field(default_factory=lambda: _env_float("KYODO_WEBHOOK_TIMEOUT_SECONDS", 10.0))
    """KYODO_WEBHOOK_TIMEOUT_SECONDS: how long one webhook delivery may take (connect and answer)."""
    invitation_hours: int = field(default_factory=lambda: _env_int("KYODO_INVITATION_HOURS", 72))
    """KYODO_INVITATION_HOURS: how long the link of an invitation to set one's password stays valid."""


@dataclass(frozen=True)
class InvoiceSettings:
    """The provider as issuer of qualified invoices (適格請求書, 消費税法 57条の4).

    The provider's fixed identity: set once per deployment, copied onto every invoice
    when it is issued (a later change never alters an issued invoice). Issuing is
    refused while the registration number or the bank account is missing.
    """

    issuer_name: str = field(default_factory=lambda: _env("KYODO_INVOICE_ISSUER_NAME"))
    """KYODO_INVOICE_ISSUER_NAME: the provider's name as registered (e.g. 株式会社〇〇)."""
    issuer_address: str = field(default_factory=lambda: _env("KYODO_INVOICE_ISSUER_ADDRESS"))
    """KYODO_INVOICE_ISSUER_ADDRESS: the provider's address printed under its name."""
    registration_number: str = field(default_factory=lambda: _env("KYODO_INVOICE_REGISTRATION_NUMBER"))
    """KYODO_INVOICE_REGISTRATION_NUMBER: 適格請求書発行事業者の登録番号, T and 13 digits (T1234567890123)."""
    bank_name: str = field(default_factory=lambda: _env("KYODO_INVOICE_BANK_NAME"))
    """KYODO_INVOICE_BANK_NAME: bank of the account payments go to (振込先)."""
    bank_branch: str = field(default_factory=lambda: _env("KYODO_INVOICE_BANK_BRANCH"))
    """KYODO_INVOICE_BANK_BRANCH: its branch."""
    bank_account_type: str = field(default_factory=lambda: _env("KYODO_INVOICE_BANK_ACCOUNT_TYPE", "普通"))
    """KYODO_INVOICE_BANK_ACCOUNT_TYPE: 普通 or 当座."""
    bank_account_number: str = field(default_factory=lambda: _env("KYODO_INVOICE_BANK_ACCOUNT_NUMBER"))
    """KYODO_INVOICE_BANK_ACCOUNT_NUMBER: the account number (7 digits)."""
    bank_account_holder: str = field(default_factory=lambda: _env("KYODO_INVOICE_BANK_ACCOUNT_HOLDER"))
    """KYODO_INVOICE_BANK_ACCOUNT_HOLDER: the account holder in kana, as the bank shows it."""
    due_months: int = field(default_factory=lambda: _env_int("KYODO_INVOICE_DUE_MONTHS", 1))
    """KYODO_INVOICE_DUE_MONTHS: payment is due at the end of this many months after the billed month (1: 翌月末)."""


DEMO_INVOICE_ENVIRONMENT: dict[str, str] = {
    "KYODO_INVOICE_ISSUER_NAME": "共同電子契約サービス株式会社（デモ）",
    "KYODO_INVOICE_ISSUER_ADDRESS": "〒100-0000 東京都千代田区霞が関0丁目0番0号（デモ）",
    "KYODO_INVOICE_REGISTRATION_NUMBER": "T7123456789012",
    "KYODO_INVOICE_BANK_NAME": "デモ銀行",
    "KYODO_INVOICE_BANK_BRANCH": "本店営業部",
    "KYODO_INVOICE_BANK_ACCOUNT_TYPE": "普通",
    "KYODO_INVOICE_BANK_ACCOUNT_NUMBER": "1234567",
    "KYODO_INVOICE_BANK_ACCOUNT_HOLDER": "キョウドウデンシケイヤクサービス（カ",
}
"""What `kyodo demo` sets when a variable is unset: a fictitious issuer, so the demo can issue invoices."""


@dataclass(frozen=True)
class Settings:
    """All settings, grouped by concern."""

    app: AppSettings = field(default_factory=AppSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    contracts: ContractSettings = field(default_factory=ContractSettings)
    signing: SealSettings = field(default_factory=SealSettings)
    seal_key: SigningSettings = field(default_factory=SigningSettings)
    reporting: ReportingSettings = field(default_factory=ReportingSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    blobs: BlobSettings = field(default_factory=BlobSettings)
    integrations: IntegrationSettings = field(default_factory=IntegrationSettings)
    invoice: InvoiceSettings = field(default_factory=InvoiceSettings)


def to_psycopg_url(url: str) -> str:
    """Rewrite ``postgres://`` / ``postgresql://`` URLs to ``postgresql+psycopg://``."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read from the environment, once per process."""
    return Settings()
