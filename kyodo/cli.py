"""The `kyodo` command: run the platform, its parts, and operator tasks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import click

import kyodo.models  # noqa: F401 - every domain's tables, before anything walks the metadata
from core.errors import ServiceError
from core.settings import Settings, get_settings

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Kyodo (共同): the shared electronic-contract platform."""


def main() -> None:
    """Entry point: run a command; configuration problems end with a plain message, not a traceback."""
    from core.runtime import ServicesNotRunning
    from kyodo.embedded import EmbeddedServiceError

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ServicesNotRunning, EmbeddedServiceError) as exc:
        click.echo(f"kyodo: {exc}", err=True)
        sys.exit(2)


@cli.command()
@click.option("--port", type=int, default=None, help="Web port (default KYODO_PORT or 8000).")
def demo(port: int | None) -> None:
    """Everything on this machine: database, Redis, migrations, demo data, web, worker, beat."""
    import asyncio

    from consortium.demo import DEMO_PASSWORD, seed_database
    from kyodo.migrations import upgrade
    from kyodo.supervisor import Supervisor, embedded_pki, embedded_services

    if port is not None:
        os.environ["KYODO_PORT"] = str(port)
        get_settings.cache_clear()
    settings = get_settings()
    click.echo(f"[kyodo] data folder: {settings.app.data_dir}")
    with embedded_services(settings) as services, embedded_pki(settings) as signing_env:
        click.echo("[kyodo] database, Redis and the test PKI are up; migrating")
        upgrade(services.database_admin_url, app_url=services.database_url, quiet=True)
        report = asyncio.run(seed_database(services.database_url))
        click.echo(f"[kyodo] demo data: {report.total} rows added (password of every demo login: {DEMO_PASSWORD})")
        supervisor = Supervisor(settings, services, signing_env)
        base = settings.server.base_url()

        def announce(ready: bool) -> None:
            if ready:
                click.echo(f"[kyodo] ready: {base}  (Ctrl-C stops everything)")
            else:
                click.echo(f"[kyodo] not ready yet; see {settings.app.data_dir / 'logs'}", err=True)

        code = supervisor.run(f"http://{settings.server.host}:{settings.server.port}/health/ready", announce)
    click.echo("[kyodo] stopped")
    sys.exit(code)


@cli.command()
def services() -> None:
    """Only the embedded PostgreSQL and Redis, for running the other parts by hand."""
    from kyodo.supervisor import embedded_services

    settings = get_settings()
    with embedded_services(settings) as running:
        click.echo(f"KYODO_DATABASE_URL={running.database_url}")
        click.echo(f"KYODO_REDIS_URL={running.redis_url}")
        click.echo("[kyodo] Ctrl-C stops them")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default KYODO_HOST).")
@click.option("--port", type=int, default=None, help="Port (default KYODO_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """The web server (uvicorn)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "kyodo.app:create_app",
        factory=True,
        host=host or settings.server.host,
        port=port or settings.server.port,
        workers=settings.server.web_workers,
        proxy_headers=True,
        log_level=settings.app.log_level.lower(),
    )


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--concurrency", "-c", type=int, default=None, help="Worker processes.")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None) -> None:
    """A Celery worker (extra options are passed to Celery)."""
    from kyodo.celery_app import celery

    settings = get_settings()
    argv = [
        "worker",
        "--loglevel",
        settings.app.log_level,
        "--concurrency",
        str(concurrency or settings.worker.concurrency),
        *ctx.args,
    ]
    celery.worker_main(argv)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat(ctx: click.Context) -> None:
    """Celery beat, the scheduler of periodic tasks (run exactly one)."""
    from kyodo.celery_app import celery

    celery.start(["beat", "--loglevel", get_settings().app.log_level, *ctx.args])


@cli.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate up to REVISION (default: head)."""
    from core.runtime import database_admin_url, database_url
    from kyodo.migrations import upgrade

    settings = get_settings()
    upgrade(database_admin_url(settings), revision, app_url=database_url(settings))


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (e.g. -1 or base)."""
    from core.runtime import database_admin_url
    from kyodo.migrations import downgrade

    downgrade(database_admin_url(get_settings()), revision)


@db.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    from alembic import command

    from kyodo.migrations import alembic_config

    command.current(alembic_config(), verbose=True)


@db.command("check")
def db_check() -> None:
    """Fail if the models need a migration. Uses a throw-away embedded database when none is set."""
    from kyodo.migrations import check, upgrade
    from kyodo.supervisor import embedded_services

    settings = get_settings()
    if settings.database.url:
        admin = settings.database.admin_url or settings.database.url
        upgrade(admin, quiet=True)
        check(admin)
        return
    with tempfile.TemporaryDirectory(prefix="kyodo-check-") as tmp:
        throwaway = Settings(
            app=dataclasses.replace(settings.app, data_dir=Path(tmp)),
            redis=dataclasses.replace(settings.redis, url="redis://unused"),
        )
        with embedded_services(throwaway) as running:
            upgrade(running.database_admin_url, quiet=True)
            check(running.database_admin_url)


@cli.group()
def audit() -> None:
    """The contracts' audit trail."""


@audit.command("verify")
@click.option("--member", "member_code", default=None, help="Only this member (全国地方公共団体コード, 6 digits).")
def audit_verify(member_code: str | None) -> None:
    """Recompute every hash chain of the audit trail; exit 1 when a row was changed or removed."""
    import asyncio

    from signing.audit import verify_trail

    report = asyncio.run(verify_trail(member_code))
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--at", "validation_time", default=None, help="Validate at this ISO time (default: now).")
@click.option(
    "--trust-root",
    "trust_roots",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A root certificate to trust (PEM or DER); may be repeated. Default: KYODO_SIGNING_TRUST_ROOTS, "
    "else the test root of this installation's demo PKI.",
)
def verify(pdf: Path, as_json: bool, validation_time: str | None, trust_roots: tuple[Path, ...]) -> None:
    """Check every signature and timestamp of a sealed PDF, offline (exit 1 if not valid).

    It says which trust roots it used: a seal is only as trustworthy as the root it chains to.
    """
    import datetime as dt

    from signing.verification import verify as verify_pdf

    roots, source = _verification_roots(trust_roots)
    # With --json the report alone goes to standard output; the roots are still said, on standard error.
    click.echo(f"trust roots ({source}):", err=as_json)
    for root in roots:
        click.echo(f"  {root}", err=as_json)
    at = dt.datetime.fromisoformat(validation_time) if validation_time else None
    report = verify_pdf(pdf.read_bytes(), validation_time=at, trust_roots=roots)
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(f"{pdf.name}  sha256 {report.sha256}")
        for sig in report.signatures:
            state = "OK" if sig.ok else "NG"
            when = sig.timestamp_time or sig.signing_time
            click.echo(f"  [{state}] {sig.kind}: {sig.signer_subject}  {when}  coverage={sig.coverage}  LTV={sig.ltv}")
            for problem in sig.problems:
                click.echo(f"        - {problem}")
        for problem in report.problems:
            click.echo(f"  ! {problem}")
        click.echo("valid" if report.ok else "NOT valid")
    sys.exit(0 if report.ok else 1)


def _verification_roots(given: tuple[Path, ...]) -> tuple[tuple[Path, ...], str]:
    """The roots ``kyodo verify`` trusts, and where they came from."""
    from core.settings import SigningSettings

    if given:
        return given, "--trust-root"
    configured = SigningSettings().trust_root_paths
    if configured:
        return configured, "KYODO_SIGNING_TRUST_ROOTS"
    demo_root = get_settings().app.data_dir / "pki" / "certs" / "root.pem"
    if demo_root.is_file():
        return (demo_root,), "the demo's offline test root: it proves nothing outside this installation"
    raise click.ClickException(
        "No trust root: pass --trust-root ROOT.pem, set KYODO_SIGNING_TRUST_ROOTS, "
        "or run `kyodo demo` once to create the test PKI."
    )


@cli.group()
def seal() -> None:
    """The sealing service (operators)."""


@seal.command("pending")
@click.option("--late-minutes", default=10, show_default=True, help="Exit 1 when a seal waits longer than this.")
def seal_pending(late_minutes: int) -> None:
    """List contracts waiting for their seal (封緘待ち) and those that could not be sealed; exit 1 if any needs care.

    Exit status 1 when a contract waits longer than ``--late-minutes`` or could
    not be sealed (封緘できませんでした): both need an operator's look.
    """
    import asyncio
    import datetime as dt

    from sqlalchemy import select

    from core.db import session_scope
    from core.scope import system_access
    from signing.models import Contract, ContractStatus
    from tenants.models import Member

    async def _list() -> list[tuple[str, str, str, ContractStatus, dt.datetime | None, str]]:
        async with session_scope() as session:
            await system_access(session)
            rows = await session.execute(
                select(
                    Member.lg_code,
                    Member.name,
                    Contract.id,
                    Contract.status,
                    Contract.completed_at,
                    Contract.seal_failure,
                )
                .join(Member, Member.id == Contract.member_id)
                .where(Contract.status.in_([ContractStatus.SEALING, ContractStatus.SEAL_FAILED]))
                .order_by(Contract.completed_at)
            )
            return [
                (code, name, str(cid), status, done, str((failure or {}).get("reason", "")))
                for code, name, cid, status, done, failure in rows
            ]

    now = dt.datetime.now(dt.UTC)
    needs_care = False
    rows = asyncio.run(_list())
    waiting = failed = 0
    for code, name, contract_id, status, completed, reason in rows:
        waited = (now - completed) if completed else dt.timedelta(0)
        if status is ContractStatus.SEAL_FAILED:
            failed += 1
            needs_care = True
            click.echo(f"{code} {name}  {contract_id}  封緘できませんでした ({reason})")
            continue
        waiting += 1
        needs_care = needs_care or waited > dt.timedelta(minutes=late_minutes)
        click.echo(f"{code} {name}  {contract_id}  封緘待ち {int(waited.total_seconds() // 60)} 分")
    click.echo(f"{waiting} contract(s) waiting for their seal, {failed} could not be sealed")
    sys.exit(1 if needs_care else 0)


@seal.command("retry")
@click.argument("contract_id", type=click.UUID)
def seal_retry(contract_id: uuid.UUID) -> None:
    """Send a contract that stopped on an unexpected sealing error to the sealing service again.

    Only for failures of the platform itself (reason ``internal``), once their
    cause is fixed; a file or value that cannot be sealed is corrected by staff.
    """
    import asyncio

    from core.db import session_scope
    from core.scope import system_access
    from signing.audit import Actor
    from signing.conclusion import retry_seal
    from signing.services import get_contract

    async def _retry() -> None:
        async with session_scope() as session:
            await system_access(session)
            contract = await get_contract(session, contract_id)
            await retry_seal(session, contract, Actor(actor="運用担当（kyodo seal retry）"))

    try:
        asyncio.run(_retry())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{contract_id}: sent to the sealing service again")


@cli.group()
def pki() -> None:
    """The offline test PKI used by `kyodo demo` and the tests."""


@pki.command("export-root")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def pki_export_root(directory: Path) -> None:
    """Write the test root certificate (PEM and .cer) to trust it in Acrobat Reader."""
    from kyodo.supervisor import TEST_PKI_PORT
    from testpki import TestPKI, existing_port

    pki_dir = get_settings().app.data_dir / "pki"
    if not (pki_dir / "pki.json").exists():
        raise click.ClickException(f"no test PKI in {pki_dir}; run `kyodo demo` once first")
    test_pki = TestPKI.ensure(pki_dir, port=existing_port(pki_dir, TEST_PKI_PORT))
    for path in test_pki.export_root_certificate(directory):
        click.echo(str(path))


@cli.group()
def apikey() -> None:
    """API keys of members (operator commands)."""


@apikey.command("create")
@click.option("--member", "lg_code", required=True, help="The member's local government code, e.g. 032018.")
@click.option("--label", default="operator", show_default=True, help="What the key is for.")
@click.option("--role", default=None, help="A role to give the key, e.g. drafter.")
def apikey_create(lg_code: str, label: str, role: str | None) -> None:
    """Issue an API key for a member and print it (shown once; only its digest is stored)."""
    import asyncio

    import redis

    from consortium.services import issue_operator_api_key
    from core.db import session_scope
    from core.errors import ServiceError
    from core.runtime import redis_url
    from policy.engine import announce_change
    from policy.permissions import member_domain

    settings = get_settings()

    async def issue() -> tuple[str, str, str]:
        async with session_scope(settings) as session:
            member, row, key = await issue_operator_api_key(session, lg_code=lg_code, label=label, role=role)
            return key, row.prefix, str(member.id)

    try:
        key, prefix, member_id = asyncio.run(issue())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    if role:
        client = redis.Redis.from_url(redis_url(settings), socket_connect_timeout=2)
        try:
            announce_change(client, member_domain(member_id))
        except redis.RedisError as exc:
            click.echo(f"kyodo: the key works, but running processes were not told about its role ({exc})", err=True)
        finally:
            client.close()
    click.echo(key)
    click.echo(f"[kyodo] prefix {prefix}; the key is shown only now", err=True)


@cli.group()
def backup() -> None:
    """Backups of the database and the document store (the master key is kept apart)."""


@backup.command("create")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def backup_create(out_dir: Path) -> None:
    """Write a backup folder (database dump, document store, manifest with SHA-256) into OUT."""
    from kyodo.backup import BackupError, create_backup

    try:
        folder = create_backup(get_settings(), out_dir)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(folder))
    click.echo("[kyodo] keep the master key apart from the backup: the documents cannot be read without it", err=True)


@backup.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def backup_verify(folder: Path) -> None:
    """Check every file of a backup against its manifest; exit 1 when damaged."""
    from kyodo.backup import BackupError, verify_backup

    try:
        manifest = verify_backup(folder)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"intact: made {manifest.created_at}, schema {manifest.revision}, {len(manifest.files)} files")


@backup.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def backup_restore(folder: Path) -> None:
    """Restore a backup into this installation's empty database and data folder."""
    from kyodo.backup import BackupError, restore_backup

    try:
        manifest = restore_backup(get_settings(), folder)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored the backup made {manifest.created_at} (schema {manifest.revision})")


@cli.group()
def operator() -> None:
    """Accounts of the provider's operators (incidents, maintenance, monthly reports)."""


@operator.command("create")
@click.option("--login-id", required=True, help="The ID the operator signs in with.")
@click.option("--name", required=True, help="The operator's name, shown in reports they issue.")
@click.option("--email", required=True, help="Where operator notices go (reports waiting for a plan).")
def operator_create(login_id: str, name: str, email: str) -> None:
    """Create an operator account and print its initial password (shown once)."""
    import asyncio

    from consortium.services import create_operator
    from core.db import session_scope
    from core.errors import ServiceError
    from core.scope import system_access

    async def create() -> str:
        async with session_scope(get_settings()) as session:
            await system_access(session)
            _, password = await create_operator(session, login_id=login_id, name=name, email=email)
            return password

    try:
        password = asyncio.run(create())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(password)
    click.echo(f"[kyodo] operator {login_id} created; the password is shown only now", err=True)


@cli.group()
def billing() -> None:
    """Monthly invoices of the members."""


@billing.command("run")
@click.option("--month", required=True, help="Month to invoice, YYYY-MM (e.g. 2026-10).")
def billing_run(month: str) -> None:
    """Issue the month's invoices that are not issued yet (safe to run again)."""
    import asyncio

    from onboarding.dates import parse_month
    from onboarding.operations import run_billing

    try:
        first = parse_month(month)
    except ValueError as exc:
        raise click.BadParameter("月は YYYY-MM の形で指定してください（例: 2026-10）。", param_hint="--month") from exc
    issued = asyncio.run(run_billing(get_settings(), first))
    for invoice in issued:
        click.echo(f"{invoice.number:06d}  {invoice.payer_name}  {int(invoice.total):,} 円")
    click.echo(f"[kyodo] {len(issued)} invoice(s) issued for {first:%Y-%m}")


@cli.group()
def member() -> None:
    """A member's full export and, when it leaves, deletion of its data."""


@member.command("export")
@click.option("--member", "code", required=True, help="The member's local government code.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Zip file to write.")
def member_export(code: str, out: Path) -> None:
    """Write every table and file of the member, with a SHA-256 manifest, to a zip."""
    import asyncio

    from onboarding.operations import UnknownMember, run_export

    try:
        result = asyncio.run(run_export(get_settings(), code, out))
    except UnknownMember as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"[kyodo] {out}: {sum(result.row_counts.values())} rows, {len(result.files)} files, sha256 {result.sha256}"
    )


@member.command("delete")
@click.option("--member", "code", required=True, help="The member's local government code.")
@click.option("--confirm", required=True, help="The same code again, to confirm.")
@click.option("--export-sha256", default="", help="SHA-256 of the export handed over, kept in the report.")
def member_delete(code: str, confirm: str, export_sha256: str) -> None:
    """Delete every row and file of a leaving member; print the deletion report."""
    import asyncio
    import json

    from onboarding.leaving import DeletionRefused
    from onboarding.operations import UnknownMember, run_delete

    if code.strip() != confirm.strip():
        raise click.ClickException("--confirm には --member と同じ地方公共団体コードを指定してください。")
    try:
        report = asyncio.run(run_delete(get_settings(), code, export_sha256=export_sha256))
    except (UnknownMember, DeletionRefused) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        json.dumps(
            {
                "member": report.member_name,
                "lg_code": report.lg_code,
                "deleted_by": report.deleted_by,
                "row_counts": report.row_counts,
                "blob_files": report.blob_files,
            },
            ensure_ascii=False,
            indent=2,
        )
    )


def _when(text: str) -> dt.datetime:
    """An ISO date-time; without an offset it is Japan time."""
    from zoneinfo import ZoneInfo

    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("Asia/Tokyo"))


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


@cli.group()
def report() -> None:
    """Monthly SLA and performance reports."""


@report.command("generate")
@click.option("--month", required=True, help="Month, e.g. 2026-10.")
@click.option("--member", "lg_code", default=None, help="Only this member (local government code, e.g. 032018).")
@click.option(
    "--draft", "draft_dir", type=click.Path(path_type=Path), default=None, help="Write drafts here; issue nothing."
)
@click.option("--by", "issued_by", default="operator", help="Who issues (kept with the report).")
def report_generate(month: str, lg_code: str | None, draft_dir: Path | None, issued_by: str) -> None:
    """Issue the reports of MONTH (a report with a missed target needs a plan first)."""
    from reporting.figures import parse_month
    from reporting.operations import generate

    for line in _run(generate(parse_month(month), lg_code=lg_code, draft_dir=draft_dir, issued_by=issued_by)):
        click.echo(line)


@report.command("plan")
@click.option("--month", required=True, help="Month, e.g. 2026-10.")
@click.option("--member", "lg_code", required=True, help="Local government code.")
@click.option("--item", type=click.Choice(["availability", "recovery", "response"]), required=True)
@click.option("--reason", required=True, help="Why the target was missed.")
@click.option("--plan", required=True, help="The improvement plan.")
@click.option("--by", default="operator", help="Who wrote it.")
def report_plan(*, month: str, lg_code: str, item: str, reason: str, plan: str, by: str) -> None:
    """Write the reason and improvement plan for a missed target (MOR-14(2))."""
    from reporting.figures import parse_month
    from reporting.operations import add_plan

    click.echo(_run(add_plan(parse_month(month), lg_code, item=item, reason=reason, plan=plan, by=by)))


@report.command("targets")
@click.option("--consortium", "slug", required=True, help="Consortium slug.")
@click.option("--from", "effective_from", required=True, help="First day the targets apply, e.g. 2027-04-01.")
@click.option("--availability", type=str, default="99.8", help="Availability target in percent.")
@click.option("--recovery-minutes", type=int, default=360, help="Time to recover target.")
@click.option("--response-ms", type=int, default=3000, help="Screen response target (95th percentile).")
def report_targets(slug: str, effective_from: str, availability: str, recovery_minutes: int, response_ms: int) -> None:
    """Change a consortium's targets from a date on (the past keeps its targets)."""
    from decimal import Decimal

    from reporting.operations import change_targets

    click.echo(
        _run(
            change_targets(
                slug,
                effective_from=dt.date.fromisoformat(effective_from),
                availability=Decimal(availability),
                recovery_minutes=recovery_minutes,
                response_ms=response_ms,
            )
        )
    )


@cli.group()
def maintenance() -> None:
    """Planned maintenance windows."""


@maintenance.command("schedule")
@click.option("--consortium", "slug", required=True, help="Consortium slug.")
@click.option("--title", required=True)
@click.option("--start", required=True, help="ISO date-time (Japan time unless an offset is given).")
@click.option("--end", required=True, help="ISO date-time.")
@click.option("--description", default="")
@click.option("--emergency", is_flag=True, help="Shorter notice than the consortium requires (counts as downtime).")
def maintenance_schedule(*, slug: str, title: str, start: str, end: str, description: str, emergency: bool) -> None:
    """Announce maintenance; members and contractors are mailed."""
    from reporting.operations import add_maintenance
    from reporting.services import MaintenanceNoticeError

    try:
        message = _run(
            add_maintenance(
                slug,
                title=title,
                starts_at=_when(start),
                ends_at=_when(end),
                description=description,
                emergency=emergency,
            )
        )
    except MaintenanceNoticeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(message)


@cli.group()
def incident() -> None:
    """Incidents (MOR-18)."""


@incident.command("open")
@click.option("--title", required=True)
@click.option("--started", required=True, help="ISO date-time the failure began.")
@click.option("--detected", required=True, help="ISO date-time it was detected.")
@click.option("--symptom", required=True)
@click.option("--notified", default=None, help="ISO date-time members were first told (optional).")
@click.option("--member", "lg_codes", multiple=True, help="Affected member (repeat); none = every member.")
def incident_open(
    *, title: str, started: str, detected: str, symptom: str, notified: str | None, lg_codes: tuple[str, ...]
) -> None:
    """Record an incident."""
    from reporting.operations import add_incident

    click.echo(
        _run(
            add_incident(
                title=title,
                started_at=_when(started),
                detected_at=_when(detected),
                first_notified_at=_when(notified) if notified else None,
                symptom=symptom,
                lg_codes=list(lg_codes),
            )
        )
    )


@incident.command("recover")
@click.argument("incident_id")
@click.option("--at", "recovered", required=True, help="ISO date-time of recovery.")
@click.option("--cause", required=True)
@click.option("--prevention", required=True)
def incident_recover(incident_id: str, recovered: str, cause: str, prevention: str) -> None:
    """Record the recovery, cause and prevention."""
    import uuid

    from reporting.operations import close_incident

    click.echo(
        _run(close_incident(uuid.UUID(incident_id), recovered_at=_when(recovered), cause=cause, prevention=prevention))
    )


if __name__ == "__main__":
    main()
