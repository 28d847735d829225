"""Public pages of the platform shell: top page, sign-in, language switch."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from kyodo.i18n import LOCALE_COOKIE, LOCALES

__all__ = ["PagesController", "safe_next"]

JST = ZoneInfo("Asia/Tokyo")


def safe_next(target: str | None) -> str:
    """Only same-site paths may be redirected to (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class PagesController(Controller):
    """Top page, sign-in placeholder and the language switch."""

    include_in_schema = False

    @get("/")
    async def home(self) -> Template:
        """Top page."""
        return Template("home.html", context={"today": dt.datetime.now(JST).date()})

    @get("/login")
    async def login_page(self) -> Template:
        """Staff sign-in form."""
        return Template("login.html")

    @post("/language", status_code=303)
    async def set_language(
        self,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        """Remember the chosen language in a cookie and go back where the user was."""
        lang = data.get("lang", "")
        response = Redirect(path=safe_next(data.get("next")), status_code=303)
        if lang in LOCALES:
            response.set_cookie(LOCALE_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
        return response
