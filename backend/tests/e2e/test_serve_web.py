"""scripts/serve_web.py: content types, the generated config.js, and nothing served from outside frontend/."""

import http.client
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e


def raw_get(web_url: str, path: str) -> int:
    """GET with the path sent exactly as written (httpx would normalise the dots away)."""
    parts = urlsplit(web_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_config_js_points_at_the_api(web_url: str, api_url: str) -> None:
    response = httpx.get(f"{web_url}/js/config.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert f'export const API_BASE_URL = "{api_url}";' in response.text


def test_the_pages_may_reach_the_api_and_its_live_feed_only(web_url: str, api_url: str) -> None:
    response = httpx.get(f"{web_url}/index.html")
    policy = {
        part.strip().split(" ", 1)[0]: part.strip().split(" ")[1:]
        for part in response.headers["content-security-policy"].split(";")
    }
    live_origin = api_url.replace("http://", "ws://", 1)
    assert policy["connect-src"] == ["'self'", api_url, live_origin]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/js/index.js", "text/javascript; charset=utf-8"),
        ("/css/styles.css", "text/css; charset=utf-8"),
        ("/vendor/bootstrap.min.css", "text/css; charset=utf-8"),
        ("/vendor/fonts/bootstrap-icons.woff2", "font/woff2"),
        ("/vendor/fonts/bootstrap-icons.woff", "font/woff"),
    ],
)
def test_content_types(web_url: str, path: str, content_type: str) -> None:
    response = httpx.get(f"{web_url}{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/../backend/requirements.txt",
        "/js/../../scripts/serve_web.py",
        "/%2e%2e/backend/requirements.txt",
        "/js/%2E%2E/%2E%2E/README.md",
        "/..%2fbackend%2frequirements.txt",
        "/js/",
        "/vendor/",
        "/nope.html",
    ],
)
def test_nothing_outside_frontend_and_no_listings(web_url: str, path: str) -> None:
    assert raw_get(web_url, path) == 404
