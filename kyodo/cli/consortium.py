"""``kyodo consortium``: found a consortium with its secretariat account and defaults, add members (no SQL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import click

from core.db import system_session
from core.errors import ServiceError
from core.settings import get_settings
from kyodo.cli.common import run
from kyodo.consortia import ConsortiumDefaults, add_member, consortia, found
from tenants.models import MemberKind

__all__ = ["consortium"]

_DEFAULTS = ConsortiumDefaults()


@click.group()
def consortium() -> None:
    """Consortia of local governments and their members."""


@consortium.command("create")
@click.option("--name", required=True, help="The consortium's name, e.g. ぐんま電子契約共同利用協議会.")
@click.option("--slug", required=True, help="Short lower-case identifier, e.g. gunma-kyodo.")
@click.option("--secretariat-login-id", required=True, help="Login ID of the secretariat (事務局) account.")
@click.option("--secretariat-name", required=True, help="Name of the secretariat account.")
@click.option("--secretariat-email", required=True, help="Address of the secretariat.")
@click.option(
    "--notice-days",
    type=int,
    default=_DEFAULTS.notice_days,
    show_default=True,
    help="Days ahead planned maintenance is announced (7 to 365).",
)
@click.option(
    "--latest-end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=_DEFAULTS.latest_end.isoformat(),
    show_default=True,
    help="Latest end date of a member's agreement.",
)
@click.option(
    "--availability",
    default=str(_DEFAULTS.availability_percent),
    show_default=True,
    help="Availability target in percent.",
)
@click.option(
    "--recovery-minutes",
    type=int,
    default=_DEFAULTS.recovery_minutes,
    show_default=True,
    help="Recovery time target in minutes.",
)
@click.option(
    "--response-ms",
    type=int,
    default=_DEFAULTS.response_ms,
    show_default=True,
    help="Response time target in milliseconds.",
)
def consortium_create(
    *,
    name: str,
    slug: str,
    secretariat_login_id: str,
    secretariat_name: str,
    secretariat_email: str,
    notice_days: int,
    latest_end: dt.datetime,
    availability: str,
    recovery_minutes: int,
    response_ms: int,
) -> None:
    """Create a consortium and its secretariat account; print the account's initial password (shown once)."""
    try:
        percent = Decimal(availability)
    except InvalidOperation:
        raise click.BadParameter(f"{availability} is not a number", param_hint="--availability") from None
    defaults = ConsortiumDefaults(
        notice_days=notice_days,
        latest_end=latest_end.date(),
        availability_percent=percent,
        recovery_minutes=recovery_minutes,
        response_ms=response_ms,
    )

    async def _create() -> str:
        async with system_session(get_settings()) as session:
            founded = await found(
                session,
                name=name,
                slug=slug,
                secretariat_login_id=secretariat_login_id,
                secretariat_name=secretariat_name,
                secretariat_email=secretariat_email,
                defaults=defaults,
            )
            return founded.password

    try:
        password = run(_create())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(password)
    click.echo(
        f"[kyodo] consortium {slug} created with secretariat {secretariat_login_id}; the password is shown only now",
        err=True,
    )


@consortium.command("add-member")
@click.option("--consortium", "slug", required=True, help="Slug of the consortium.")
@click.option("--code", "lg_code", required=True, help="全国地方公共団体コード (6 digits).")
@click.option("--name", required=True, help="The member's name, e.g. 前橋市.")
@click.option(
    "--kind", type=click.Choice([k.value for k in MemberKind]), default=MemberKind.MUNICIPALITY.value, show_default=True
)
@click.option("--admin-login-id", required=True, help="Login ID of the member's first administrator.")
@click.option("--admin-name", required=True)
@click.option("--admin-email", required=True)
def consortium_add_member(
    *, slug: str, lg_code: str, name: str, kind: str, admin_login_id: str, admin_name: str, admin_email: str
) -> None:
    """Add a member (in its sandbox) with its first administrator; print the administrator's initial password."""

    async def _add() -> str:
        async with system_session(get_settings()) as session:
            added = await add_member(
                session,
                slug=slug,
                lg_code=lg_code,
                name=name,
                kind=MemberKind(kind),
                admin_login_id=admin_login_id,
                admin_name=admin_name,
                admin_email=admin_email,
            )
            return added.password

    try:
        password = run(_add())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(password)
    click.echo(f"[kyodo] member {lg_code} {name} added to {slug}; the password is shown only now", err=True)


@consortium.command("list")
def consortium_list() -> None:
    """Every consortium: slug, name, notice days, latest agreement end."""

    async def _list() -> list[str]:
        async with system_session(get_settings()) as session:
            return [
                f"{c.slug}\t{c.name}\t{c.maintenance_notice_days}\t{c.latest_end.isoformat()}"
                for c in await consortia(session)
            ]

    for line in run(_list()):
        click.echo(line)
