"""The API docs, /docs (Swagger UI), served from the app's own files: Swagger UI's bundle from the pinned
`fastapi-swagger` package, and the script that starts it from `docs_assets/`. No CDN: the docs work offline, and no
one else's script runs next to an admin's token. The page carries a Content-Security-Policy that lets it load only
those files and call only the API.

There is no /redoc: ReDoc's bundle loads its logo from its maker's CDN on every page, and needs inline styles."""

import os
from html import escape
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.staticfiles import PathLike
from starlette.types import Scope

from app.security_headers import FRAME_ANCESTORS

ASSETS_URL = "/docs/assets"
OWN_ASSETS = Path(__file__).parent / "docs_assets"
# Its own scripts, styles and images, calls to the API only, no <base>, no form posts, never framed.
SWAGGER_UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    f"{FRAME_ANCESTORS}; base-uri 'none'; form-action 'none'"
)

# FastAPI's get_swagger_ui_html() writes the start-up script inline, which a policy without 'unsafe-inline' refuses;
# this is the same page with that script as a file (docs_assets/swagger-ui-init.js).
_SWAGGER_UI_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="shortcut icon" href="{assets}/favicon-32x32.png">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-init.js"></script>
</body>
</html>
"""


class _DocsAssets(StaticFiles):
    """The page's files and nothing else of the package's folder. Pinned files: a browser may keep them, but asks
    again each time (ETag, 304) rather than never keeping them."""

    FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "swagger-ui-init.js"})

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in self.FILES:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


def install_docs(app: FastAPI) -> None:
    """Mount the files and add the page (out of the OpenAPI schema); the app is made with docs_url=None,
    redoc_url=None and swagger_ui_oauth2_redirect_url=None (the password flow needs no redirect page)."""
    assets = _DocsAssets(directory=OWN_ASSETS, packages=[("fastapi_swagger", "resources")])
    app.mount(ASSETS_URL, assets, name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = _SWAGGER_UI_PAGE.format(
            assets=escape(root + ASSETS_URL),
            title=escape(f"{app.title} - Swagger UI"),
            openapi_url=escape(root + (app.openapi_url or "")),
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": SWAGGER_UI_CSP})
