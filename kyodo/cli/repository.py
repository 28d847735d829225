"""The sealing queue the operator's commands read now lives in signing's repository."""

from __future__ import annotations

from signing.repositories.seals import SealQueue, WaitingSeal

__all__ = ["SealQueue", "WaitingSeal"]
