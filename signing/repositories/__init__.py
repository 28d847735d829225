"""The signing domain's repositories: the only code that queries its member-owned rows.

:class:`ContractRepository` holds every query of contracts, their documents,
parties, text boxes, sealed files, certificates and audit trail that the
workflow, the screens and the API make, plus the few rows of ``tenants`` the
drafting needs (titles, departments, signers, the address book). Each query
starts from :meth:`core.repository.MemberScopedRepository.scoped`, so it stays
within the repository's member; a repository made with ``member_id=None``
works across members and is used only inside :func:`core.scope.elevated`
(a contractor's link, reminders, the verification of an uploaded file).
"""

from __future__ import annotations

from signing.repositories.contracts import ContractRepository, SearchFilters, TrailFilters, TrailRow

__all__ = ["ContractRepository", "SearchFilters", "TrailFilters", "TrailRow"]
