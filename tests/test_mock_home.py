"""`GET /` of the mock: a small self-contained page with where each supplier is, the world's demo
credentials, the admin API and the docs; interface pages are routed as before."""

from __future__ import annotations

import re

from mockkit import make_mock
from starlette.testclient import TestClient

from mockserver.app import create_app
from mockserver.server import Settings, build_theater_mock


def client_for(spec):
    mock = make_mock(spec)
    stage = build_theater_mock(Settings(db=":memory:"), mock)
    app = create_app(mock, theater=stage)
    return mock, stage, app, TestClient(app, base_url="http://127.0.0.1:8765")


def test_home_page_names_the_suppliers_credentials_admin_api_and_docs(spec):
    mock, stage, _, client = client_for(spec)
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "GET http://127.0.0.1:8765/{Page}.aspx" in html and "POST http://127.0.0.1:8765/POST/{Page}.aspx" in html
    assert "GET http://127.0.0.1:8765/theater/{Page}.aspx" in html
    for agent in (*mock.world.agents, *stage.world.agents):
        assert f"<code>{agent.user}</code>" in html and f"<code>{agent.key}</code>" in html
        assert f"<code>{agent.password}</code>" in html
    assert 'href="http://127.0.0.1:8765/_admin"' in html and 'href="http://127.0.0.1:8765/theater/_admin"' in html
    assert "X-Admin-Token" in html
    assert 'href="http://127.0.0.1:8765/_docs/spec.html"' in html and 'href="http://127.0.0.1:8765/_docs/README.md"' in html
    assert "Admin API (supplier side)" in html  # a README section
    assert "<script" not in html and not re.search(r"(src|href)=\"https?://(?!127\.0\.0\.1:8765)", html)
    assert mock.now().isoformat() in html  # the mock's clock


def test_the_docs_it_links_are_served(spec):
    _, _, _, client = client_for(spec)
    readme = client.get("/_docs/README.md")
    assert readme.status_code == 200 and readme.text.startswith("# YBX contract toolkit")
    reference = client.get("/_docs/spec.html")
    assert reference.status_code == 200 and "GetProviderConfig.aspx" in reference.text


def test_the_theater_has_its_own_home(spec):
    _, stage, _, client = client_for(spec)
    html = client.get("/theater/").text
    assert "GET http://127.0.0.1:8765/theater/{Page}.aspx" in html and stage.world.supplier.providername in html


def test_interface_pages_are_still_routed_first(spec):
    from mockkit import Ota

    mock, _, app, client = client_for(spec)
    assert client.get("/").status_code == 200
    assert Ota(mock, client).call("GetProviderConfig.aspx").retcode == "0"
    scope = {"type": "http", "method": "GET", "path": "/GetProviderConfig.aspx", "root_path": "", "headers": []}
    assert app._page_params(scope) == {"page": "GetProviderConfig.aspx"}  # the short way, as before
    assert client.get("/POST/").status_code == 404 and client.post("/").status_code == 405
