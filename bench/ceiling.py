"""The framework ceiling of `make bench`: the app's own `create_app()` (same server, same middleware) plus routes that
answer a constant list page, so no database, no authentication and no ORM take part.

The page is a real answer of the API's list endpoint (20 incidents), saved by bench/run.py to the file named by
BENCH_CEILING_PAGE, so its size is that of a real page. Run from backend/ (the `app` package must be importable):

    BENCH_CEILING_PAGE=page.json uvicorn ceiling:app --app-dir ../bench

Routes:
    GET /bench/ceiling       async def, returns the page as a dict (FastAPI serialises it at every request): the
                             ceiling the ratios of docs/PERFORMANCE.md are computed against
    GET /bench/ceiling-sync  the same as a sync `def` route (it runs in the thread pool, like today's routes)
    GET /bench/ceiling-raw   async def, the page serialised once at start-up (the floor of what a route can cost)
"""

import json
import os
from pathlib import Path
from typing import Any

from fastapi import Response

from app.main import create_app

PAGE: dict[str, Any] = json.loads(Path(os.environ["BENCH_CEILING_PAGE"]).read_text(encoding="utf-8"))
PAGE_BYTES = json.dumps(PAGE, separators=(",", ":")).encode()

app = create_app()


@app.get("/bench/ceiling", include_in_schema=False)
async def ceiling() -> dict[str, Any]:
    return PAGE


@app.get("/bench/ceiling-sync", include_in_schema=False)
def ceiling_sync() -> dict[str, Any]:
    return PAGE


@app.get("/bench/ceiling-raw", include_in_schema=False)
async def ceiling_raw() -> Response:
    return Response(PAGE_BYTES, media_type="application/json")
