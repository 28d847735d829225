"""The Litestar application factory.

``create_app()`` builds the whole web application from :class:`~core.settings.Settings`:
controllers of the platform and of every domain (:mod:`kyodo.routes`), the
SQLAlchemy plugin, authentication and CSRF protection, templates (Jinja2 with
gettext), static files, OpenAPI at ``/schema``. Tests call it with a session maker
bound to a rolled-back transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from jinja2 import Environment
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import kyodo.models  # noqa: F401 - every domain's tables, before anything walks the metadata
from core import i18n
from core.db import create_engine
from core.outbox import InlineRelay, set_relay_here
from core.runtime import redis_url
from core.settings import Settings, SigningSettings, get_settings
from kyodo import navigation
from kyodo.auth import CSRF_COOKIE, CSRF_HEADER, authentication_middleware
from kyodo.celery_app import publishing_app
from kyodo.dependencies import dependencies
from kyodo.errors import exception_handlers
from kyodo.logfile import configure_log_file
from kyodo.middleware import locale_middleware, request_id_middleware, security_headers_middleware
from kyodo.proxies import proxy_middleware
from kyodo.ratelimit import STORE, rate_limit_configs, rate_limit_store
from kyodo.routes import route_handlers, template_dirs
from policy.engine import PolicyListener
from reporting.telemetry import telemetry_lifespan, telemetry_middleware
from signing.pdfgate import start_fork_server
from tenants.passwords import prepare_dummy_hashes
from tenants.sessions import SessionStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"


def _configure_jinja(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["_"] = i18n.gettext
    env.globals["pgettext"] = i18n.pgettext
    env.globals["format_date"] = i18n.format_date
    env.globals["current_language"] = i18n.current_locale.get
    env.globals["era_by_default"] = i18n.era_by_default
    env.globals["start_links"] = navigation.start_links
    env.filters["role_label"] = navigation.role_label
    env.filters["local_time"] = i18n.format_local_time
    env.filters["input_time"] = i18n.input_local_time
    env.policies["ext.i18n.trimmed"] = True


async def _check_database_role(engine: AsyncEngine) -> None:
    # Row-level security is the second line of member isolation; a superuser or a
    # BYPASSRLS role would silently turn it off, so the platform refuses to run.
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"))
            ).first()
    except (OSError, SQLAlchemyError):
        # An unreachable database is reported by /health/ready; the role is checked
        # again by every fresh process.
        log.warning("database not reachable at start-up; role check skipped")
        return
    if row is not None and row[0]:
        raise RuntimeError(
            "KYODO_DATABASE_URL connects as a superuser or a role with BYPASSRLS, which would switch off "
            "row-level security. Use a role without these rights (migrations use KYODO_DATABASE_ADMIN_URL)."
        )


def _warm_up() -> None:
    i18n.load_catalogs()
    prepare_dummy_hashes()
    try:
        start_fork_server()
    except OSError as e:  # the checks start it themselves, and say so if they cannot
        log.warning("PDF check fork server not started ahead: %s", e)


def _services_lifespan(
    settings: Settings, db_config: SQLAlchemyAsyncConfig
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await _check_database_role(db_config.get_engine())
        url = redis_url(settings)
        # Short timeouts: a Redis that hangs must turn into a quick 503, not a stuck request.
        client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1, health_check_interval=10)
        app.state.redis = client
        app.state.session_store = SessionStore(
            client,
            idle_seconds=settings.security.session_idle_minutes * 60,
            absolute_seconds=settings.security.session_absolute_hours * 3600,
        )
        listener = PolicyListener(url)
        listener.start()
        # Beside the first requests, not before them: the catalogs (~0.3 s) and the PDF
        # checks' fork server (1-3 s), which the first upload or preview would wait for.
        threading.Thread(target=_warm_up, name="kyodo-warm-up", daemon=True).start()
        relay = None
        if settings.worker.relay_inline:
            # Outbox rows go to the broker from here, right after the commit that wrote them.
            sessions = async_sessionmaker(db_config.get_engine(), expire_on_commit=False)
            relay = InlineRelay(sessions, publishing_app(settings), asyncio.get_running_loop())
            set_relay_here(relay)
        try:
            yield
        finally:
            if relay is not None:
                set_relay_here(None)
                await relay.drain()
            listener.stop()
            await client.aclose()

    return lifespan


def alchemy_config(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    session_maker: Callable[[], AsyncSession] | None = None,
) -> SQLAlchemyAsyncConfig:
    """The Litestar plugin configuration: one engine per process, autocommit on success."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine or create_engine(settings),
        session_maker=session_maker,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(),
        # Redirects after a form post (303) commit too: the post-redirect-get pattern.
        before_send_handler="autocommit_include_redirects",
        create_all=False,
        # Handlers get the member-scoped session from kyodo.dependencies under the
        # usual name "db_session"; the raw one stays internal.
        session_dependency_key="raw_db_session",
    )


def create_app(
    settings: Settings | None = None,
    *,
    session_maker: Callable[[], AsyncSession] | None = None,
    signing: SigningSettings | None = None,
) -> Litestar:
    """Build the web application."""
    settings = settings or get_settings()
    configure_log_file(settings, "web")  # uvicorn's worker processes start here, not in the CLI
    signing = signing or SigningSettings()
    db_config = alchemy_config(settings, session_maker=session_maker)
    template_config = TemplateConfig(
        directory=[*template_dirs()],
        engine=JinjaTemplateEngine,
        engine_callback=_configure_jinja,
    )
    csrf = CSRFConfig(
        secret=settings.app.resolved_secret_key(),
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=settings.security.secure_cookies,
        cookie_samesite="lax",
        # The JSON API authenticates with API keys, or with the session plus the
        # CSRF header (checked in kyodo.auth); public probes post nothing.
        exclude=["/api/", "/health/"],
    )
    return Litestar(
        route_handlers=[
            *route_handlers(),
            create_static_files_router(path="/static", directories=[STATIC_DIR], name="static"),
        ],
        plugins=[SQLAlchemyPlugin(config=db_config), HTMXPlugin()],
        template_config=template_config,
        middleware=[
            request_id_middleware,
            # Before the rest, so that allow-lists, audit trails and limits all see the same client address.
            *proxy_middleware(settings.security.trusted_proxies),
            *(config.middleware for config in rate_limit_configs(settings)),
            DefineMiddleware(security_headers_middleware, hsts=settings.security.secure_cookies),
            DefineMiddleware(locale_middleware, default_locale=settings.app.default_locale),
            authentication_middleware,
            # Inside authentication, so the request's member is known; counts only, no I/O.
            telemetry_middleware,
        ],
        csrf_config=csrf,
        dependencies=dependencies(),
        exception_handlers=exception_handlers(),
        openapi_config=OpenAPIConfig(
            title="Kyodo API",
            version="1",
            description=(
                "Electronic contracts for the members of a consortium of local governments. "
                "Authenticate with a member's API key: `Authorization: Bearer kyd_…`."
            ),
            path="/schema",
            # Each operation's description is its handler's docstring (the published interface, NII-6(3)).
            use_handler_docstrings=True,
            render_plugins=[ScalarRenderPlugin()],
            components=Components(
                security_schemes={"apiKey": SecurityScheme(type="http", scheme="bearer", bearer_format="kyd_…")}
            ),
            security=[{"apiKey": []}],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        stores={STORE: rate_limit_store(settings)},
        lifespan=[
            _services_lifespan(settings, db_config),
            telemetry_lifespan(settings.reporting.telemetry_flush_seconds),
        ],
        state=State(
            {
                "settings": settings,
                "started_at": dt.datetime.now(dt.UTC),
                "session_maker_key": db_config.session_maker_app_state_key,
                "signing_settings": signing,
            }
        ),
        debug=settings.app.debug,
    )
