"""The API docs (/docs, Swagger UI) come from the app's own files: no CDN, so they work offline and run no one else's
script next to an admin's token; the page has a Content-Security-Policy that allows only them."""

import re

import pytest

# What the page may load: its own files and the API, nothing inline, nothing from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
ASSETS = {
    "/docs/assets/swagger-ui.css": "text/css; charset=utf-8",
    "/docs/assets/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "/docs/assets/swagger-ui-init.js": "text/javascript; charset=utf-8",
    "/docs/assets/favicon-32x32.png": "image/png",
}


def test_the_docs_page_loads_only_the_apps_own_files(anonymous):
    response = anonymous.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert set(re.findall(r"""\b(?:src|href)="([^"]*)\"""", response.text)) == set(ASSETS)
    assert re.search(r"https?:|//", response.text) is None


def test_swagger_ui_is_started_by_a_file_not_an_inline_script(anonymous):
    html = anonymous.get("/docs").text

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.DOTALL)
    assert [(attributes.strip(), body.strip()) for attributes, body in scripts] == [
        ('src="/docs/assets/swagger-ui-bundle.js"', ""),
        ('src="/docs/assets/swagger-ui-init.js"', ""),
    ]
    assert 'data-openapi-url="/openapi.json"' in html
    assert re.search(r"\bon[a-z]+=", html) is None  # no inline event handler either


def test_the_docs_page_has_its_content_security_policy(anonymous):
    response = anonymous.get("/docs")

    assert response.headers["content-security-policy"] == CSP
    directives = dict(directive.split(" ", 1) for directive in CSP.split("; "))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("path", "content_type"), sorted(ASSETS.items()))
def test_the_docs_files_are_served(anonymous, path, content_type):
    response = anonymous.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert len(response.content) > 0
    # Pinned files: a browser may keep them and asks again each time (ETag) rather than downloading them anew.
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert anonymous.get(path, headers={"If-None-Match": response.headers["etag"]}).status_code == 304


def test_the_files_are_the_pinned_swagger_ui(anonymous):
    assert 'PACKAGE_VERSION:"5.34.0"' in anonymous.get("/docs/assets/swagger-ui-bundle.js").text


@pytest.mark.parametrize("path", ["__init__.py", "../docs.py", "", "swagger-ui-bundle.js.map"])
def test_nothing_else_is_served_with_them(anonymous, path):
    response = anonymous.get(f"/docs/assets/{path}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_the_docs_routes_are_not_in_the_schema(anonymous):
    paths = anonymous.get("/openapi.json").json()["paths"]

    assert [path for path in paths if not path.startswith("/api/")] == []


@pytest.mark.parametrize("path", ["/redoc", "/docs/oauth2-redirect"])
def test_pages_that_would_need_more_are_not_served(anonymous, path):
    """ReDoc's bundle loads its logo from its maker's CDN on every page and needs inline styles. The oauth2-redirect
    page serves only the flows that send the browser elsewhere: the API's one scheme is OAuth2's password flow, which
    Swagger UI completes with a request to the token URL."""
    assert anonymous.get(path).status_code == 404
