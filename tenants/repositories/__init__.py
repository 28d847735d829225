"""Queries of the member administration beyond :mod:`tenants.repository`: the operation log."""

from tenants.repositories.oplog import OperationFilters, OperationLogRepository

__all__ = ["OperationFilters", "OperationLogRepository"]
