"""Contract services: drafting, documents, parties, text boxes, circulation, search, downloads, exports.

The screens and the API call :class:`ContractActions` (one method per action of
a member's staff or other systems); a contractor's link is a
:class:`ContractorLink`. Both are built on the workflow functions below, which
tasks, operator commands and tests call directly. Every function works in the
caller's transaction and session; queries go through
:class:`signing.repositories.ContractRepository`. A request that cannot be
honoured raises :class:`core.errors.ServiceError` with a message in the user's
language, before anything is changed.

The private modules hold one concern each:

* ``_common`` — task names, limits, reading and locking a contract;
* ``_drafts`` — a new contract, its files, parties, text boxes, passwords;
* ``_editing`` — changing a draft until it is sent, deleting, copying, revising after a decline;
* ``_circulation`` — sending, each party's turn, agreeing, declining, forwarding,
  reminders, cancelling, and the mail each of these sends;
* ``_corrections`` — a corrected file or value after a seal failure;
* ``_contractor`` — a contractor's link and access password;
* ``_values`` — text box values checked as the seal will print them;
* ``_metadata`` — particulars required before sending, corrected after conclusion, department moves;
* ``_downloads`` — documents, the certificate, page previews, each download audited;
* ``_search`` and ``_exports`` — search, the audit trail's pages, CSV exports;
* ``_finance`` — the CSV of contract data for the finance system, exported and imported;
* ``_todo`` — the start page's to-do list of a member's staff;
* ``_confirm`` — what the screens ask before sending, cancelling and concluding;
* ``_bulk`` — bulk sending: one prepared draft to the counterparties of a CSV file;
* ``_actions`` — :class:`ContractActions`.
"""

from __future__ import annotations

from core.dates import JST
from signing.repositories import SearchFilters, TrailFilters
from signing.services._actions import ContractActions, ContractView, PasswordInput, UploadedFile
from signing.services._bulk import BACKGROUND_ROWS as BULK_BACKGROUND_ROWS
from signing.services._bulk import COLUMNS as BULK_COLUMNS
from signing.services._bulk import MAX_ROWS as BULK_MAX_ROWS
from signing.services._bulk import PASSWORDS_KEEP as BULK_PASSWORDS_KEEP
from signing.services._bulk import (
    BatchRow,
    BatchView,
    BulkPreview,
    BulkRow,
    BulkRowInput,
    BulkRowsInput,
    BulkSending,
    placeholder_of,
)
from signing.services._bulk import column_label as bulk_column_label
from signing.services._bulk import drop_expired_passwords as drop_expired_bulk_passwords
from signing.services._circulation import (
    agree,
    cancel,
    decline,
    forward,
    issue_token,
    notify_next,
    party_link,
    remind,
    send,
    staff_agree,
)
from signing.services._common import (
    MIN_CONTRACTOR_PASSWORD,
    SEAL_TASK,
    get_contract,
    lock_contract,
    text_boxes,
    token_digest,
)
from signing.services._confirm import Confirmation, ContractStep, confirmation, signer_title
from signing.services._contractor import (
    ContractorLink,
    ForwardInput,
    check_contractor_password,
    gate_cookie_value,
    party_by_token,
)
from signing.services._corrections import correctable_box, replace_document, request_correction
from signing.services._downloads import Download, certificate_download, document_download, page_preview_png
from signing.services._drafts import (
    ContractInput,
    PartyInput,
    TextBoxInput,
    add_documents,
    add_party,
    add_text_box,
    address_book,
    check_upload,
    clean_file_name,
    create_contract,
    set_party_password,
    suggested_password,
)
from signing.services._editing import (
    CLEARABLE,
    DraftChanges,
    PartyChanges,
    PartyMove,
    PartyOrder,
    TextBoxChanges,
    copy_contract,
    delete_draft,
    edit_draft,
    edit_party,
    edit_text_box,
    move_party,
    moved,
    next_order,
    remove_document,
    remove_party,
    remove_text_box,
    reorder_parties,
    replace_draft_document,
    revise_declined,
    steps,
)
from signing.services._exports import TRAIL_EXPORT_LIMIT, to_csv, trail_csv
from signing.services._finance import COLUMNS as FINANCE_COLUMNS
from signing.services._finance import HEADERS as FINANCE_HEADERS
from signing.services._finance import MAX_IMPORT_BYTES as FINANCE_MAX_BYTES
from signing.services._finance import MAX_IMPORT_ROWS as FINANCE_MAX_ROWS
from signing.services._finance import FinanceImport, FinanceRow, RowAction, finance_csv, finance_import
from signing.services._metadata import (
    ContractRecords,
    Particulars,
    move_department_contracts,
    particulars_labels,
    require_particulars,
)
from signing.services._search import SearchPage, TrailEntry, TrailPage, search, trail
from signing.services._todo import ToDo, ToDoItem, ToDoList, ToDoSection, to_do
from signing.services._values import check_values, value_problem, value_problems

__all__ = [
    "BULK_BACKGROUND_ROWS",
    "BULK_COLUMNS",
    "BULK_MAX_ROWS",
    "BULK_PASSWORDS_KEEP",
    "CLEARABLE",
    "FINANCE_COLUMNS",
    "FINANCE_HEADERS",
    "FINANCE_MAX_BYTES",
    "FINANCE_MAX_ROWS",
    "JST",
    "MIN_CONTRACTOR_PASSWORD",
    "SEAL_TASK",
    "TRAIL_EXPORT_LIMIT",
    "BatchRow",
    "BatchView",
    "BulkPreview",
    "BulkRow",
    "BulkRowInput",
    "BulkRowsInput",
    "BulkSending",
    "Confirmation",
    "ContractActions",
    "ContractInput",
    "ContractRecords",
    "ContractStep",
    "ContractView",
    "ContractorLink",
    "Download",
    "DraftChanges",
    "FinanceImport",
    "FinanceRow",
    "ForwardInput",
    "Particulars",
    "PartyChanges",
    "PartyInput",
    "PartyMove",
    "PartyOrder",
    "PasswordInput",
    "RowAction",
    "SearchFilters",
    "SearchPage",
    "TextBoxChanges",
    "TextBoxInput",
    "ToDo",
    "ToDoItem",
    "ToDoList",
    "ToDoSection",
    "TrailEntry",
    "TrailFilters",
    "TrailPage",
    "UploadedFile",
    "add_documents",
    "add_party",
    "add_text_box",
    "address_book",
    "agree",
    "bulk_column_label",
    "cancel",
    "certificate_download",
    "check_contractor_password",
    "check_upload",
    "check_values",
    "clean_file_name",
    "confirmation",
    "copy_contract",
    "correctable_box",
    "create_contract",
    "decline",
    "delete_draft",
    "document_download",
    "drop_expired_bulk_passwords",
    "edit_draft",
    "edit_party",
    "edit_text_box",
    "finance_csv",
    "finance_import",
    "forward",
    "gate_cookie_value",
    "get_contract",
    "issue_token",
    "lock_contract",
    "move_department_contracts",
    "move_party",
    "moved",
    "next_order",
    "notify_next",
    "page_preview_png",
    "particulars_labels",
    "party_by_token",
    "party_link",
    "placeholder_of",
    "remind",
    "remove_document",
    "remove_party",
    "remove_text_box",
    "reorder_parties",
    "replace_document",
    "replace_draft_document",
    "request_correction",
    "require_particulars",
    "revise_declined",
    "search",
    "send",
    "set_party_password",
    "signer_title",
    "staff_agree",
    "steps",
    "suggested_password",
    "text_boxes",
    "to_csv",
    "to_do",
    "token_digest",
    "trail",
    "trail_csv",
    "value_problem",
    "value_problems",
]
