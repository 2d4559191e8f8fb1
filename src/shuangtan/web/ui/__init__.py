"""The dashboard: server-rendered pages on the same services as the API (zh-CN first, en)."""

from __future__ import annotations

from fastapi import APIRouter

from shuangtan.web.ui import (
    admin,
    auth_pages,
    enterprises,
    entry,
    factors,
    meters,
    overview,
    static,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (static, auth_pages, overview, enterprises, meters, entry, factors, admin):
    router.include_router(_module.router)
