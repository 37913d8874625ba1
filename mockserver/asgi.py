"""ASGI factory for uvicorn workers; settings come from YBX_MOCK_SETTINGS (set by `ybx-mock serve`)."""

from __future__ import annotations

import atexit
import json
import os
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette

from . import requestlog
from .app import create_app
from .server import DEFAULT_THEATER_WORLD, Settings, build_mock, build_theater_mock


def app() -> Starlette:
    raw = json.loads(os.environ.get("YBX_MOCK_SETTINGS", "{}"))
    settings = Settings(db=raw.get("db", "ybx-mock.db"), world=Path(raw["world"]) if raw.get("world") else None,
                        profile=raw.get("profile", "default"), faults=tuple(raw.get("faults", ())),
                        admin_token=raw.get("admin_token", "demo-admin"), certify=bool(raw.get("certify")), memo=bool(raw.get("memo", True)),
                        theater_world=Path(t) if (t := raw.get("theater_world", str(DEFAULT_THEATER_WORLD))) else None,
                        clock=datetime.fromisoformat(raw["clock"]) if raw.get("clock") else None)
    mock = build_mock(settings)
    log = None
    if not raw.get("quiet"):  # one line per request unless `ybx-mock serve --quiet`; each worker its own writer
        writer = requestlog.LineWriter()
        atexit.register(writer.stop)
        log = requestlog.RequestLog.for_spec(writer.put, raw.get("log_format") or "text", mock.spec)
    # the mock's own notes (a payment notice refused, an internal error) in the same stream and format
    requestlog.route_notes(log, lambda: mock.now().astimezone(mock.tz))
    return create_app(mock, admin_token=settings.admin_token, background=True,
                      theater=build_theater_mock(settings, mock), certify=settings.certify,
                      memo=settings.memo, request_log=log)
