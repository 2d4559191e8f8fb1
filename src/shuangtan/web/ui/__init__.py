"""The dashboard: server-rendered pages on the same services as the API (zh-CN first, en)."""

from __future__ import annotations

from fastapi import APIRouter

from shuangtan.web.ui import (
    admin,
    audit,
    auth_pages,
    enterprises,
    entry,
    factors,
    meters,
    overview,
    reports,
    static,
    verification,
)
from shuangtan.web.ui.core import LOCALES, environment

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (
    static,
    auth_pages,
    overview,
    enterprises,
    meters,
    entry,
    factors,
    admin,
    verification,
    audit,
    reports,
):
    router.include_router(_module.router)

# The enterprise page shows the year's verification case, the frozen versions and the
# evidence files of its activity data (enterprise.html calls review_of).
for _locale in LOCALES:
    environment(_locale).globals["review_of"] = verification.review_of
