"""The Litestar application factory.

``create_app()`` builds the whole web application from :class:`~kyodo.settings.Settings`:
controllers of the platform and of every domain, the SQLAlchemy plugin, templates
(Jinja2 with gettext), static files, OpenAPI at ``/schema``. Tests call it with a
session maker bound to a rolled-back transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from jinja2 import Environment
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from kyodo import i18n
from kyodo.db import alchemy_config
from kyodo.health import HealthController
from kyodo.middleware import locale_middleware
from kyodo.pages import PagesController
from kyodo.runtime import redis_url
from kyodo.settings import Settings, get_settings

__all__ = ["TEMPLATE_DIRS", "create_app"]

PACKAGE_DIR = Path(__file__).parent
TEMPLATE_DIRS: list[Path] = [PACKAGE_DIR / "templates"]
"""Template folders: the platform's, then each domain's ``templates/``."""
STATIC_DIR = PACKAGE_DIR / "static"


def _configure_jinja(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["_"] = i18n.gettext
    env.globals["format_date"] = i18n.format_date
    env.globals["current_language"] = i18n.current_locale.get
    env.policies["ext.i18n.trimmed"] = True


def _redis_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Short timeouts: a Redis that hangs must turn into a quick 503, not a stuck request.
        client = Redis.from_url(
            redis_url(settings), socket_connect_timeout=1, socket_timeout=1, health_check_interval=10
        )
        app.state.redis = client
        try:
            yield
        finally:
            await client.aclose()

    return lifespan


def create_app(
    settings: Settings | None = None,
    *,
    session_maker: Callable[[], AsyncSession] | None = None,
) -> Litestar:
    """Build the web application."""
    settings = settings or get_settings()
    db_config = alchemy_config(settings, session_maker=session_maker)
    template_config = TemplateConfig(
        directory=[*TEMPLATE_DIRS],
        engine=JinjaTemplateEngine,
        engine_callback=_configure_jinja,
    )
    return Litestar(
        route_handlers=[
            HealthController,
            PagesController,
            create_static_files_router(path="/static", directories=[STATIC_DIR], name="static"),
        ],
        plugins=[SQLAlchemyPlugin(config=db_config), HTMXPlugin()],
        template_config=template_config,
        middleware=[DefineMiddleware(locale_middleware, default_locale=settings.app.default_locale)],
        openapi_config=OpenAPIConfig(
            title="Kyodo API",
            version="1",
            description="Electronic contracts for the members of a consortium of local governments.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        lifespan=[_redis_lifespan(settings)],
        state=State({"settings": settings, "started_at": dt.datetime.now(dt.UTC)}),
        debug=settings.app.debug,
    )
