"""The dashboard's own CSS and JS, and plotly.js from the plotly package (no CDN: air-gapped)."""

from __future__ import annotations

from pathlib import Path

import plotly  # type: ignore[import-untyped]
from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from shuangtan.errors import NotFoundError

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).resolve().parent / "static"
#: plotly.js as the plotly Python package bundles it (minified, ~4.8 MB).
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
#: Files are named by version in the page (``?v=``), so browsers may keep them a day.
CACHE = "public, max-age=86400"


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """A file of the dashboard (``app.css``, ``app.js``, ``plotly.min.js``)."""
    path = PLOTLY_JS if name == "plotly.min.js" else HERE / name
    if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        raise NotFoundError(f"no static file {name!r}", field="name")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers={"Cache-Control": CACHE})
