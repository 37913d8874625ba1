"""Generate the OpenAPI 3.1 document of the interface from the spec (never hand-edited)."""

from __future__ import annotations

from typing import Any

from .model import Element, Page, Param, Profile, Spec

BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"
_JSON_TYPES = {"int": "integer", "integer": "integer", "decimal": "number"}


def _param_schema(p: Param, spec: Spec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if p.encrypted:
        # Maximum lengths in the manual are those of the plain value (gap encrypted-max-length).
        schema["pattern"] = BASE64
        schema["x-ybx-encryption"] = p.encryption
        if p.max_length:
            schema["x-ybx-plain-max-length"] = p.max_length
    else:
        if p.max_length:
            schema["maxLength"] = p.max_length
        if p.values:
            schema["enum"] = list(p.values)
        elif p.base_type == "int":
            schema["pattern"] = r"^-?\d+$"
    if p.format:
        schema["x-ybx-format"] = p.format
        if not p.encrypted and not p.values:
            schema["pattern"] = "^(" + spec.format(p.format).pattern + ")$"
    if p.default is not None:
        schema["default"] = p.default
    return schema


def _describe(p: Param) -> str:
    parts = [p.label_zh, p.en]
    if p.note_zh:
        parts.append(p.note_zh)
    return " — ".join(x for x in parts if x)


def _element_schema(el: Element, envelope: bool = False) -> dict[str, Any]:
    """`envelope`: an element of an XML answer, where an unmarked leaf is never empty (gap
    response-empty-values); the REST page's members may be null or numbers instead."""
    if el.children:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {c.name: _element_schema(c, envelope) for c in el.children},
            "required": [c.name for c in el.children if not c.optional],
            "xml": {"name": el.name},
        }
    else:
        schema = {"type": "string", "xml": {"name": el.name}}
        if el.type in _JSON_TYPES:
            schema["x-ybx-type"] = el.type
        if el.values:
            schema["x-ybx-values"] = list(el.values)
        if envelope and not el.allow_empty:
            schema["minLength"] = 1
    if el.label_zh or el.en:
        schema["description"] = " / ".join(t for t in (el.label_zh, el.en) if t)
    if el.repeated:
        return {"type": "array", "items": schema, "xml": {"wrapped": False}, "description": schema.get("description", "")}
    return schema


def _response_schema(page: Page, profile: Profile) -> dict[str, Any]:
    props: dict[str, Any] = {name: {"type": "string", "xml": {"name": name}} for name in profile.response.envelope}
    codes = sorted({r.code for r in page.retcodes})
    if codes and page.direction == "request":
        props["retcode"]["enum"] = codes
    for el in page.response:
        props[el.name] = _element_schema(el, envelope=True)
    required = list(profile.response.envelope) + [el.name for el in page.response if not el.optional]
    return {"type": "object", "xml": {"name": profile.response.root}, "properties": props, "required": required}


def _retcode_doc(page: Page) -> str:
    return "\n".join(f"- `{r.code}` {r.message_zh} ({r.message_en})" for r in page.retcodes)


def _operation(page: Page, method: str, profile: Profile, spec: Spec) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{page.stem}_{method}",
        "summary": f"{page.section} {page.title_zh} — {page.title_en}",
        "description": page.summary_en + ("\n\nretcodes:\n" + _retcode_doc(page) if page.retcodes else ""),
        "tags": [page.mode],
        "responses": {
            "200": {
                "description": "Signed XML envelope (profile rule e)",
                "content": {"text/xml": {"schema": _response_schema(page, profile)}},
            }
        },
        "x-ybx-page": page.page,
        "x-ybx-section": page.section,
    }
    wire_params = [p for p in page.params if p.location == "query"]
    xml_params = [p for p in page.params if p.location == "xml-body"]
    if xml_params:
        op["requestBody"] = {
            "required": True,
            "content": {"text/xml": {"schema": {
                "type": "object", "xml": {"name": "xml"},
                "properties": {p.name: {"type": "string", "description": _describe(p)} for p in xml_params},
            }}},
        }
    elif method == "GET":
        op["parameters"] = [
            {"name": p.name, "in": "query", "required": bool(p.required), "description": _describe(p),
             "schema": _param_schema(p, spec)}
            for p in wire_params
        ]
    else:
        op["requestBody"] = {
            "required": True,
            "content": {
                profile.transport.post_content_type: {
                    "schema": {
                        "type": "object",
                        "properties": {p.name: {**_param_schema(p, spec), "description": _describe(p)} for p in wire_params},
                        "required": [p.name for p in wire_params if p.required],
                    }
                }
            },
        }
    return op


def _path(template: str, page: Page) -> str:
    return template.replace("{base}", "").replace("{page}", page.page)


def _rest_operation(page: Page) -> dict[str, Any]:
    assert page.rest is not None
    schema = {"type": "object", "properties": {el.name: _element_schema(el) for el in page.response}}
    return {
        "operationId": "YearCardQueryMain_GET",
        "summary": f"{page.title_zh} — {page.title_en}",
        "description": page.summary_en,
        "security": [{"hawk": []}],
        "parameters": [
            {"name": p.name, "in": "query", "required": bool(p.required), "description": _describe(p),
             "schema": {"type": "integer" if p.base_type == "int" else "string",
                        **({"default": int(p.default) if p.base_type == "int" else p.default} if p.default not in (None, "") else {})}}
            for p in page.params
        ],
        "responses": {
            "200": {"description": "The order's main record",
                    "content": {mt: {"schema": schema} for mt in page.rest.media_types}},
            "401": {"description": "Missing or invalid Hawk credentials",
                    "content": {"application/json": {"schema": {"type": "object", "properties": {"Message": {"type": "string"}}}}}},
        },
        "x-ybx-page": page.page,
    }


def generate(spec: Spec, profile: Profile | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document: GET and POST for every request page, the REST page, the callbacks as webhooks."""
    profile = profile or spec.profile()
    paths: dict[str, Any] = {}
    for page in spec.pages:
        if page.direction in ("request", "payment_notify"):
            for method in page.methods:
                tmpl = profile.transport.get_path if method == "GET" else profile.transport.post_path
                paths.setdefault(_path(tmpl, page), {})[method.lower()] = _operation(page, method, profile, spec)
        elif page.direction == "rest" and page.rest:
            paths["/" + page.rest.path.lstrip("/")] = {"get": _rest_operation(page)}
    webhooks = {
        page.stem: {"get": _operation(page, "GET", profile, spec)} for page in spec.pages_by("callback")
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "游宝星电子门票互联网交易接口 (YBX e-ticket supplier interface)",
            "version": "4.0",
            "description": f"Generated from the YBX spec with profile '{profile.name}': {profile.description_en}",
        },
        "servers": [{"url": "http://127.0.0.1:8765"}],
        "paths": paths,
        "webhooks": webhooks,
        "components": {"securitySchemes": {"hawk": {"type": "http", "scheme": "Hawk",
                                                    "description": profile.rest_auth.rule.note_en}}},
    }
