"""HTTP of contracts: the API, the staff screens and the contractor pages.

Handlers stay thin: each turns the request into the input of one service
method (:class:`signing.services.ContractActions` for staff and other systems,
:class:`signing.services.ContractorLink` for a contractor's link) and its result
into JSON, a page or a download. The HTML handler and its JSON twin call the
same method with the same input. Who may do what is said by the guards; which
rows they may see by the services' repository.

* ``_api`` — :class:`ContractApiController`, ``/api/v1/contracts``;
* ``_pages`` — :class:`ContractPagesController`, ``/contracts``;
* ``_editor`` — :class:`ContractEditorController`, ``/contracts/{id}/edit/…``: the contract editor in steps;
* ``_contractor`` — :class:`ContractorController`, ``/c/{token}``;
* ``_records`` — :class:`ContractRecordsController` and its API twin: corrections after conclusion,
  department moves;
* ``_portal`` — :class:`PortalController`, ``/portal``: a contractor's concluded contracts, across members;
* ``_bulk`` — :class:`BulkSendingController`, ``/contracts/{id}/bulk``: one draft sent to the rows of a CSV file;
* ``_finance`` — :class:`FinanceCsvController`, ``/contracts/finance/…``: the finance system's CSV, export and
  import;
* ``_bulk_api`` — :class:`BulkSendingApiController`, its JSON twin: ``/api/v1/contracts/{id}/bulk``,
  ``/api/v1/bulk/{id}``;
* ``_common`` — request parsing, the actions dependency, errors and downloads.
"""

from __future__ import annotations

from signing.controllers._api import ContractApiController
from signing.controllers._bulk import BulkSendingController
from signing.controllers._bulk_api import BulkSendingApiController
from signing.controllers._contractor import GATE_COOKIE, ContractorController
from signing.controllers._editor import ContractEditorController
from signing.controllers._finance import FinanceCsvController
from signing.controllers._pages import ContractPagesController
from signing.controllers._portal import PortalController
from signing.controllers._records import ContractRecordsApiController, ContractRecordsController

__all__ = [
    "GATE_COOKIE",
    "BulkSendingApiController",
    "BulkSendingController",
    "ContractApiController",
    "ContractEditorController",
    "ContractPagesController",
    "ContractRecordsApiController",
    "ContractRecordsController",
    "ContractorController",
    "FinanceCsvController",
    "PortalController",
]
