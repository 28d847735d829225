"""What the contracts domain calls things, in the reader's language: every status and event in one place.

The staff screens, the contractor's page, the CSV exports, the audit log and
the certificate of conclusion take their words from here, so a status reads the
same everywhere (``tests/signing/test_labels.py`` compares them). Every label
goes through the gettext catalogs (English message ids, Japanese translations).
Each family has a message context of its own: the same English word may need
another Japanese one (a party who *Agreed* is 同意済み, the event *Agreed* is
同意), and a word here never takes the translation of the same word elsewhere.
The certificate is always Japanese: render it inside :func:`speaking` ``("ja")``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from core.i18n import current_locale, pgettext
from core.i18n import gettext as _
from signing.models import AuditKind, ContractStatus, PartyStatus

__all__ = [
    "audit_kind_label",
    "audit_kind_labels",
    "contract_status_label",
    "contract_status_labels",
    "failure_message",
    "party_status_label",
    "party_status_labels",
    "pgettext",
    "search_term_labels",
    "search_terms_text",
    "speaking",
    "verification_problem",
]


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Labels in ``locale`` inside the block (the certificate and mails are Japanese whatever a screen says)."""
    token = current_locale.set(locale)
    try:
        yield
    finally:
        current_locale.reset(token)


def contract_status_labels() -> dict[ContractStatus, str]:
    """Every status of a contract and its name."""
    return {
        ContractStatus.DRAFT: pgettext("contract status", "Draft"),
        ContractStatus.CIRCULATING: pgettext("contract status", "Circulating"),
        ContractStatus.SEALING: pgettext("contract status", "Waiting for the seal"),
        ContractStatus.CONCLUDED: pgettext("contract status", "Concluded"),
        ContractStatus.DECLINED: pgettext("contract status", "Declined"),
        ContractStatus.CANCELLED: pgettext("contract status", "Cancelled"),
        ContractStatus.SEAL_FAILED: pgettext("contract status", "Could not be sealed"),
    }


def party_status_labels() -> dict[PartyStatus, str]:
    """Every status of a party and its name."""
    return {
        PartyStatus.WAITING: pgettext("party status", "Waiting for their turn"),
        PartyStatus.NOTIFIED: pgettext("party status", "Asked"),
        PartyStatus.AGREED: pgettext("party status", "Agreed"),
        PartyStatus.DECLINED: pgettext("party status", "Declined"),
        PartyStatus.FORWARDED: pgettext("party status", "Forwarded"),
        PartyStatus.CANCELLED: pgettext("party status", "Cancelled"),
    }


def audit_kind_labels() -> dict[str, str]:
    """Every kind of audit event (by its stored value) and its name."""
    return {
        AuditKind.CREATED.value: pgettext("audit event", "Created"),
        AuditKind.UPLOADED.value: pgettext("audit event", "File uploaded"),
        AuditKind.UPDATED.value: pgettext("audit event", "Changed"),
        AuditKind.SENT.value: pgettext("audit event", "Sent"),
        AuditKind.NOTIFIED.value: pgettext("audit event", "Request mailed"),
        AuditKind.REMINDED.value: pgettext("audit event", "Reminder mailed"),
        AuditKind.OPENED.value: pgettext("audit event", "Opened with the access password"),
        AuditKind.PASSWORD_FAILED.value: pgettext("audit event", "Wrong access password"),
        AuditKind.LOCKED.value: pgettext("audit event", "Link locked"),
        AuditKind.FILLED.value: pgettext("audit event", "Text boxes filled"),
        AuditKind.AGREED.value: pgettext("audit event", "Agreed"),
        AuditKind.DECLINED.value: pgettext("audit event", "Declined"),
        AuditKind.FORWARDED.value: pgettext("audit event", "Forwarded"),
        AuditKind.CANCELLED.value: pgettext("audit event", "Cancelled"),
        AuditKind.COMPLETED.value: pgettext("audit event", "Every party agreed"),
        AuditKind.DOWNLOADED.value: pgettext("audit event", "Downloaded"),
        AuditKind.SEALED.value: pgettext("audit event", "Sealed"),
        AuditKind.SEAL_FAILED.value: pgettext("audit event", "Could not be sealed"),
        AuditKind.MAIL_FAILED.value: pgettext("audit event", "Mail could not be delivered"),
        AuditKind.RECIRCULATED.value: pgettext("audit event", "Circulated again"),
        AuditKind.DELETED.value: pgettext("audit event", "Draft deleted"),
        AuditKind.REVISED.value: pgettext("audit event", "Revised as a new version"),
        AuditKind.RENEWED.value: pgettext("audit event", "Timestamp renewed"),
        AuditKind.SEARCHED.value: pgettext("audit event", "Searched"),
        AuditKind.EXPORTED.value: pgettext("audit event", "Exported"),
        AuditKind.CORRECTED.value: pgettext("audit event", "Particulars corrected"),
        AuditKind.MOVED.value: pgettext("audit event", "Moved to another department"),
    }


def contract_status_label(status: ContractStatus | str) -> str:
    """The name of a contract's status."""
    return contract_status_labels()[ContractStatus(status)]


def undelivered_party_label() -> str:
    """What a party asked by a mail that could not be delivered is shown as (not "asked")."""
    return pgettext("party status", "Asked, but the mail did not arrive")


def party_status_label(status: PartyStatus | str) -> str:
    """The name of a party's status."""
    return party_status_labels()[PartyStatus(status)]


def audit_kind_label(kind: AuditKind | str) -> str:
    """The name of a kind of audit event (a kind this version does not know is shown as stored)."""
    value = kind.value if isinstance(kind, AuditKind) else str(kind)
    return audit_kind_labels().get(value, value)


def search_term_labels() -> dict[str, str]:
    """The search keys by their field name, as the search form calls them."""
    return {
        "word": _("Word in the file name or subject"),
        "date_from": _("Transaction date from"),
        "date_to": _("Transaction date to"),
        "amount_min": _("Amount from (yen)"),
        "amount_max": _("Amount to (yen)"),
        "counterparty": _("Counterparty"),
        "status": _("Status"),
        "contract": _("Contract number or ID"),
    }


def search_terms_text(terms: Mapping[str, Any]) -> str:
    """Search keys as a line for people: ``ファイル名・件名の語句: 道路 / 取引先: 盛岡``."""
    names = search_term_labels()
    shown = []
    for key, value in terms.items():
        text = contract_status_label(value) if key == "status" and value in set(ContractStatus) else str(value)
        shown.append(f"{names.get(key, key)}: {text}")
    return " / ".join(shown)


def failure_message(failure: Mapping[str, Any] | None) -> str:
    """The reason of a seal failure in the reader's language, with what staff can do about it."""
    if not failure:
        return ""
    reason = failure.get("reason")
    label = str(failure.get("label") or "")
    page = failure.get("page") or "?"
    file_name = str(failure.get("file_name") or "")
    if reason == "characters":
        return _(
            "The entry “{label}” (page {page}) contains characters that cannot be printed in the contract: "
            "{characters}. Ask the person who entered it to correct it (for example with the usual form of "
            "the character), or cancel the contract."
        ).format(label=label, page=page, characters=" ".join(str(failure.get("characters") or "")))
    if reason == "overflow":
        return _(
            "The entry “{label}” (page {page}) is too long for its box even in the smallest type. "
            "Ask the person who entered it to shorten it, or replace the file with one whose box is larger."
        ).format(label=label, page=page)
    if reason in ("area", "page"):
        return _(
            "The text box “{label}” (page {page}) does not lie on a page of “{file}”. "
            "Replace the file and circulate the contract again, or cancel it."
        ).format(label=label, page=page, file=file_name)
    if reason == "internal":
        return _(
            "The sealing service stopped on an unexpected error. The operators have been alerted and will "
            "send the contract to be sealed again; nothing needs to be done by the parties."
        )
    return _(
        "“{file}” could not be sealed: the structure of the PDF cannot be signed. "
        "Save or print it to PDF again (for example with “Microsoft Print to PDF”), replace the file and "
        "circulate the contract again, or cancel it."
    ).format(file=file_name)


_PROBLEMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"no signature"), lambda m: _("The file carries no seal (signature).")),
    (
        re.compile(r"no document timestamp after the last signature \(not PAdES B-LTA\)"),
        lambda m: _("There is no document timestamp after the last seal, so it is not verifiable for the long term."),
    ),
    (
        re.compile(r"the file was changed after its last signature/timestamp \((?P<level>.*)\)"),
        lambda m: _("The file was changed after its last seal or timestamp ({level}).").format(level=m["level"]),
    ),
    (re.compile(r"the signed bytes were changed"), lambda m: _("The sealed content was changed.")),
    (
        re.compile(r"the signature value does not verify"),
        lambda m: _("The seal's signature value does not match the content."),
    ),
    (
        re.compile(r"the document was modified after sealing \((?P<level>.*)\)"),
        lambda m: _("The document was modified after it was sealed ({level}).").format(level=m["level"]),
    ),
    (re.compile(r"the timestamped bytes were changed"), lambda m: _("The timestamped content was changed.")),
    (
        re.compile(r"the timestamp signature does not verify"),
        lambda m: _("The timestamp's signature does not match the content."),
    ),
    (
        re.compile(r"TSA certificate not trusted/valid at (?P<moment>.*)"),
        lambda m: _("The timestamp authority's certificate was not trusted or not valid at {moment}.").format(
            moment=m["moment"]
        ),
    ),
    (
        re.compile(r"the newest timestamp's TSA certificate has expired: renewal was missed"),
        lambda m: _("The certificate of the newest timestamp has expired: the timestamp was not renewed in time."),
    ),
    (
        re.compile(r"long-term validation: (?P<result>[^:]*): (?P<detail>.*)"),
        lambda m: _("Long-term validation failed ({result}): {detail}").format(result=m["result"], detail=m["detail"]),
    ),
)


def verification_problem(problem: str) -> str:
    """A problem of a verification report (``signing.verification``, English for the API) in the reader's language.

    A problem of one signature comes as ``"<field>: <problem>"``; the field name stays as it is.
    Details from pyHanko (after "long-term validation") are not translated.
    """
    field, sep, rest = problem.partition(": ")
    if sep and not any(pattern.fullmatch(problem) for pattern, _text in _PROBLEMS):
        inner = verification_problem(rest)
        if inner != rest:
            return f"{field}: {inner}"
    for pattern, text in _PROBLEMS:
        found = pattern.fullmatch(problem)
        if found is not None:
            return text(found)
    return problem
