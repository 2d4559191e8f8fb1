"""Request parameters the API's routers share: ids, paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

__all__ = ["Limit", "Offset", "OptId", "PathId"]

#: An id in the path (a positive 32-bit integer).
PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: An optional id filter in the query.
OptId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
#: Page size.
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
#: Items to skip.
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")]
