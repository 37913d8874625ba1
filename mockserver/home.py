"""`GET /`: a small page for a person who opened the mock in a browser — where each supplier is, the
demo agents' credentials (a local mock: the README prints them too), the admin API and the docs.
`/_docs/README.md` serves the checkout's README, `/_docs/spec.html` the spec reference."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .context import Mock

README = Path(__file__).resolve().parent.parent / "README.md"  # present in a checkout, not in a wheel
DOCS = "/_docs"
_HEADING = re.compile(r"^(#{2,3}) (.+)$", re.MULTILINE)
_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.4}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
          "code{background:#f4f4f4;padding:0 .2em}")


def _here(request: Request) -> str:
    """This app's own base URL, its mount path included (…/theater for the theater supplier)."""
    scope = request.scope
    mount = scope.get("root_path", "")[len(scope.get("app_root_path", "")):]
    return str(request.base_url).rstrip("/") + mount


def _supplier(mock: Mock, base: str) -> str:
    s = mock.world.supplier
    rows = "".join(
        f"<tr><td><code>{escape(a.user)}</code></td><td><code>{escape(a.password)}</code></td>"
        f"<td><code>{escape(a.key)}</code></td><td><code>{escape(a.pay_password)}</code></td>"
        f"<td>{'yes' if a.enabled else 'no (disabled)'}</td></tr>" for a in mock.world.agents)
    return (f"<h2>{escape(s.mode)} supplier: {escape(s.providername)}</h2>"
            f"<p>Interface pages: <code>GET {escape(base)}/{{Page}}.aspx</code> and "
            f"<code>POST {escape(base)}/POST/{{Page}}.aspx</code>, signed and encrypted per profile "
            f"<code>{escape(mock.profile.name)}</code>.</p>"
            f"<p>Admin API: <a href=\"{escape(base)}/_admin\">{escape(base)}/_admin</a> — every call needs the header "
            f"<code>X-Admin-Token</code> (the value of <code>ybx-mock serve --admin-token</code>, "
            f"<code>demo-admin</code> unless changed). The mock's clock: {escape(mock.now().isoformat())}.</p>"
            "<table><tr><th>user</th><th>login password</th><th>KEY</th><th>pay password</th><th>enabled</th></tr>"
            f"{rows}</table>")


def _readme_sections() -> str:
    """The README's sections as a nested list ("" when there is no README)."""
    if not README.is_file():
        return ""
    out, nested = ["<ul>"], False
    for level, title in _HEADING.findall(README.read_text(encoding="utf-8")):
        if level == "###" and not nested:
            out[-1:] = [out[-1].removesuffix("</li>"), "<ul>"]
            nested = True
        elif level == "##" and nested:
            out.append("</ul></li>")
            nested = False
        out.append(f"<li>{escape(title)}</li>")
    out.append("</ul></li></ul>" if nested else "</ul>")
    return "".join(out)


def home_routes(mock: Mock, theater: Mock | None = None) -> list[Route]:
    """`GET /` and the docs it links; the theater supplier under /theater/ when given."""
    cache: dict[str, str] = {}

    async def home(request: Request) -> Response:
        base = _here(request)
        parts = [_supplier(mock, base)] + ([_supplier(theater, base + "/theater")] if theater else [])
        sections = _readme_sections()
        docs = [f'<li><a href="{escape(base)}{DOCS}/spec.html">the spec reference</a> (every page, parameter, '
                "retcode, status and transition; the profiles)</li>"]
        if sections:
            docs.insert(0, f'<li><a href="{escape(base)}{DOCS}/README.md">README.md</a> (plain text), its sections:'
                           f"{sections}</li>")
        page = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>YBX mock supplier</title>"
                f"<style>{_STYLE}</style></head><body><h1>YBX mock supplier</h1>"
                "<p>A local mock of the 游宝星 e-ticket supplier interface (manual V4.0), with demo data from "
                "its world files. The credentials below are the world's demo agents, not secrets.</p>"
                + "".join(parts) + "<h2>Documentation</h2><ul>" + "".join(docs) + "</ul></body></html>")
        return HTMLResponse(page)

    async def readme(request: Request) -> Response:
        if not README.is_file():
            return PlainTextResponse("404 README.md is not beside this installation", status_code=404)
        return PlainTextResponse(README.read_text(encoding="utf-8"))

    async def reference(request: Request) -> Response:
        if "spec" not in cache:  # rendered once, on first request: most runs never ask for it
            from reports.spec_reference import reference_html
            from spec.dump import dump

            cache["spec"] = reference_html(dump(mock.spec))
        return HTMLResponse(cache["spec"])

    table: list[tuple[str, Callable]] = [("/", home), (f"{DOCS}/README.md", readme), (f"{DOCS}/spec.html", reference)]
    return [Route(path, fn, methods=["GET"]) for path, fn in table]
