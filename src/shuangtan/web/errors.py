"""Errors that exist only at the HTTP front door."""

from __future__ import annotations

from shuangtan.errors import ShuangtanError

__all__ = ["PayloadTooLargeError"]


class PayloadTooLargeError(ShuangtanError):
    """The request body is larger than the endpoint accepts (HTTP 413)."""
