"""The platform's processes one by one: the web server, a Celery worker, Celery beat."""

from __future__ import annotations

import click
import uvicorn

from core.settings import get_settings

__all__ = ["beat", "serve", "worker"]


@click.command()
@click.option("--host", default=None, help="Address to listen on (default KYODO_HOST).")
@click.option("--port", type=int, default=None, help="Port (default KYODO_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """The web server (uvicorn), with KYODO_WEB_WORKERS processes sharing the port."""
    settings = get_settings()
    uvicorn.run(
        "kyodo.app:create_app",
        factory=True,
        host=host or settings.server.host,
        port=port or settings.server.port,
        workers=settings.server.web_workers,
        proxy_headers=False,  # kyodo.proxies alone decides whom to believe (KYODO_TRUSTED_PROXIES)
        log_level=settings.app.log_level.lower(),
        access_log=settings.server.access_log,
    )


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--concurrency", "-c", type=int, default=None, help="Worker processes.")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None) -> None:
    """A Celery worker (extra options are passed to Celery)."""
    # Deferred on purpose: importing the Celery app makes this process kick the outbox
    # relay after every commit; only the worker and beat are Celery processes.
    from kyodo.celery_app import celery  # noqa: PLC0415
    from kyodo.celery_config import QUEUES  # noqa: PLC0415

    settings = get_settings()
    # Every queue (seals, mail, relay) unless the operator chose some with -Q / --queues.
    chosen = any(arg in ("-Q", "--queues") or arg.startswith(("-Q", "--queues=")) for arg in ctx.args)
    argv = [
        "worker",
        "--loglevel",
        settings.app.log_level,
        "--concurrency",
        str(concurrency or settings.worker.concurrency),
        *([] if chosen else ["--queues", ",".join(QUEUES)]),
        *ctx.args,
    ]
    celery.worker_main(argv)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat(ctx: click.Context) -> None:
    """Celery beat, the scheduler of periodic tasks (run exactly one)."""
    # Deferred on purpose, as in ``worker``: the other commands must not kick the relay through Celery.
    from kyodo.celery_app import celery  # noqa: PLC0415

    celery.start(["beat", "--loglevel", get_settings().app.log_level, *ctx.args])
