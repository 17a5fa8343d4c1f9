"""The OpenAPI document lists every route the app registers, so the fuzz suite reaches all of
them. A route added without its entry in dispatcher/api/openapi.py fails here by name."""
from __future__ import annotations

import re

import pytest

from dispatcher.api.app import make_app
from dispatcher.api.openapi import OPENAPI
from dispatcher.settings import Settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Routes that exist only with a channel on (the SMS delivery-report callback) are mounted too."""
    monkeypatch.setenv("WARNCAST_SMS_CALLBACK_SECRET", "openapi-test-secret")
    return Settings(channels=("sms",), sms_transport="http", data_dir=tmp_path)


def registered_routes(settings: Settings) -> set[tuple[str, str]]:
    app = make_app(settings, store=None)
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info()
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", info.get("path") or info.get("formatter") or "")
        if route.method not in ("HEAD", "OPTIONS", "*"):
            out.add((route.method.lower(), path))
    return out


def test_every_registered_route_is_in_the_openapi_document(settings):
    documented = {(method, path) for path, ops in OPENAPI["paths"].items() for method in ops}
    missing = sorted(registered_routes(settings) - documented)
    assert not missing, f"add these routes to dispatcher/api/openapi.py: {missing}"
    assert len(registered_routes(settings)) > 25


def test_the_document_lists_no_route_that_does_not_exist(settings):
    documented = {(method, path) for path, ops in OPENAPI["paths"].items() for method in ops}
    assert not documented - registered_routes(settings)


def test_every_path_parameter_is_declared():
    for path, ops in OPENAPI["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)
