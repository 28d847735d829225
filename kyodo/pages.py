"""Pages of the platform shell: top page, sign-in and sign-out, the start page, language switch."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST
from core.errors import Invalid
from core.i18n import CALENDAR_COOKIE, CALENDARS, LOCALE_COOKIE, LOCALES
from core.i18n import gettext as _
from core.scope import PrincipalKind
from core.settings import Settings
from core.web import client_ip
from kyodo.navigation import todo_empty, todo_heading
from policy.guards import NOT_ALLOWED, current_principal, requires_login
from signing.labels import contract_status_labels
from signing.services import to_do
from tenants.auth import LoginFailure, login
from tenants.services import change_own_password
from tenants.sessions import SESSION_COOKIE, session_store

__all__ = ["AccountController", "PagesController", "safe_next"]

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def safe_next(target: str | None) -> str:
    """Only same-site paths may be redirected to (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class PagesController(Controller):
    """Top page and the language and calendar switches."""

    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        """Top page (signed-in users go to their start page)."""
        if request.scope.get("user") is not None:
            return Redirect(path="/app", status_code=303)
        return Template("home.html", context={"today": dt.datetime.now(JST).date()})

    @post("/language", status_code=303)
    async def set_language(self, data: FormData, state: State) -> Redirect:
        """Remember the chosen language in a cookie and go back where the user was."""
        lang = data.get("lang", "")
        response = Redirect(path=safe_next(data.get("next")), status_code=303)
        if lang in LOCALES:
            _remember(response, LOCALE_COOKIE, lang, state)
        return response

    @post("/calendar", status_code=303)
    async def set_calendar(self, data: FormData, state: State) -> Redirect:
        """Remember whether years are written 令和 (era) or 西暦 (western), and go back where the user was."""
        response = Redirect(path=safe_next(data.get("next")), status_code=303)
        if (calendar := data.get("calendar", "")) in CALENDARS:
            _remember(response, CALENDAR_COOKIE, calendar, state)
        return response


def _remember(response: Redirect, name: str, value: str, state: State) -> None:
    response.set_cookie(
        name,
        value,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=state.settings.security.secure_cookies,
    )


def _failure_message(failure: LoginFailure, locked_until: dt.datetime | None) -> str:
    if failure is LoginFailure.LOCKED:
        until = locked_until.astimezone(JST).strftime("%H:%M") if locked_until else ""
        return _(
            "This account is locked after too many wrong passwords. Try again after {time}, "
            "or ask your administrator to unlock it."
        ).format(time=until)
    if failure is LoginFailure.IP_REFUSED:
        return _(
            "Access from this network is not allowed for your organisation. "
            "Please connect from your office network, or ask your administrator."
        )
    if failure is LoginFailure.INACTIVE:
        return _("This account cannot be used. Please ask your administrator.")
    return _("The ID or the password is not correct.")


class AccountController(Controller):
    """Sign-in, sign-out and the start page after signing in."""

    include_in_schema = False

    @get("/login")
    async def login_page(self, next_url: Annotated[str | None, QueryParameter(name="next")] = None) -> Template:
        """Sign-in form."""
        return Template("login.html", context={"next": safe_next(next_url), "error": None})

    @post("/login", status_code=303)
    async def login_submit(
        self,
        request: Request[Any, Any, Any],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template | Redirect:
        """Check the ID and password; start a fresh session on success."""
        settings: Settings = state.settings
        outcome = await login(
            db_session,
            data.get("login_id", ""),
            data.get("password", ""),
            ip=client_ip(request.scope),
            user_agent=request.headers.get("user-agent", ""),
            security=settings.security,
        )
        # Failed attempts and lock-outs are kept whatever the outcome.
        await db_session.commit()
        if outcome.session_data is None:
            assert outcome.failure is not None
            return Template(
                "login.html",
                context={
                    "next": safe_next(data.get("next")),
                    "error": _failure_message(outcome.failure, outcome.locked_until),
                    "login_id": data.get("login_id", ""),
                },
                status_code=403 if outcome.failure is LoginFailure.IP_REFUSED else 400,
            )
        store = session_store(state)
        # Rotation: whatever session the browser had before is ended, a new token issued.
        await store.delete(request.cookies.get(SESSION_COOKIE, ""))
        token = await store.create(outcome.session_data)
        response = Redirect(path=safe_next(data.get("next")) if data.get("next") else "/app", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=settings.security.secure_cookies,
            path="/",
        )
        return response

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        """End the session."""
        await session_store(state).delete(request.cookies.get(SESSION_COOKIE, ""))
        response = Redirect(path="/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/account/password", guards=[requires_login])
    async def password_form(self, request: Request[Any, Any, Any]) -> Template:
        """The form to change one's own password."""
        principal = current_principal(request)
        if principal.kind is PrincipalKind.API_KEY:
            raise PermissionDeniedException(detail=NOT_ALLOWED)
        return Template(
            "account_password.html",
            context={"error": None, "done": False, "forced": principal.must_change_password},
        )

    @post("/account/password", guards=[requires_login], status_code=200)
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """Replace one's own password; every other session of the account ends, this one gets a new token."""
        principal = current_principal(request)
        try:
            await change_own_password(
                db_session,
                principal,
                current=data.get("current", ""),
                new=data.get("new", ""),
                confirm=data.get("confirm", ""),
            )
        except Invalid as exc:
            return Template(
                "account_password.html",
                context={"error": exc.message, "done": False, "forced": principal.must_change_password},
                status_code=400,
            )
        await db_session.commit()
        store = session_store(state)
        old_token = request.cookies.get(SESSION_COOKIE, "")
        ended = await store.end_all_of(principal.kind.value, str(principal.id), keep=old_token)
        session_data = request.scope.get("state", {}).get("session_data") or {}
        await store.delete(old_token)
        token = await store.create({k: v for k, v in session_data.items() if k != "created_at"})
        settings: Settings = state.settings
        response = Template("account_password.html", context={"error": None, "done": True, "ended": ended})
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.security.secure_cookies, path="/"
        )
        return response

    @get("/app", guards=[requires_login])
    async def start_page(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """What waits for the signed-in person (a to-do list for a member's staff), then every screen they may use."""
        principal = current_principal(request)
        todo = await to_do(db_session, principal)
        return Template(
            "start.html",
            context={
                "principal": principal,
                "todo": todo,
                "labels": contract_status_labels(),
                "todo_heading": todo_heading,
                "todo_empty": todo_empty,
            },
        )
