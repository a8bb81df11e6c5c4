"""Each service's GET /openapi.json: valid OpenAPI 3.1, listing every route it registers."""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.core.result import Ok

from runtime.settings import Settings
from runtime.shell import LoopService

SERVICES = ("quota", "supply", "settlement", "alerts", "alliance")


def built(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoopService:
    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    service = LoopService(Settings.from_env(name))
    importlib.import_module(f"services.{name}.app").build(service)
    return service


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return document["paths"][path][method]


@pytest.mark.parametrize("name", SERVICES)
def test_the_document_is_openapi_and_lists_every_registered_route(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = built(name, tmp_path, monkeypatch)
    document = json.loads(json.dumps(service.api.document()))  # as served
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema; raises when invalid
    assert all(isinstance(result, Ok) for result in schema.get_all_operations())

    listed = {(path, method) for path, methods in document["paths"].items() for method in methods}
    registered = {(path, method) for path, handlers in service._routes.items()
                  for method in handlers}
    assert listed == registered
    assert {("/health", "get"), ("/openapi.json", "get")} <= listed
    for path, method in listed:
        declared = {p["name"] for p in operation(document, path, method).get("parameters", [])
                    if p["in"] == "path"}
        assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}


def test_bodies_credentials_and_refusals_are_described(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    supply = built("supply", tmp_path / "supply", monkeypatch).api.document()
    report = operation(supply, "/v1/supply/reports", "post")
    assert report["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SupplyMonthlyReported"}
    assert report["security"] == [{"bearer": []}]
    assert {"200", "202", "401", "403", "413", "422", "503"} <= set(report["responses"])
    incident = operation(supply, "/v1/supply/incidents", "post")
    assert len(incident["requestBody"]["content"]["application/json"]["schema"]["oneOf"]) == 3
    assert supply["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"

    alliance = built("alliance", tmp_path / "alliance", monkeypatch).api.document()
    inbound = operation(alliance, "/v1/alliance/inbound", "post")
    assert inbound["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SignedBatch"}
    assert inbound["security"] == [{"province": [], "signature": []}]
    assert {"202", "401", "403", "409", "413", "422"} <= set(inbound["responses"])
    assert "CloudEvent" in alliance["components"]["schemas"]

    alerts = built("alerts", tmp_path / "alerts", monkeypatch).api.document()
    silence = operation(alerts, "/v1/silences", "post")
    assert {"201", "401", "422"} <= set(silence["responses"])
    assert all(op.get("security") == [{"bearer": []}] for path, ops in alerts["paths"].items()
               for op in ops.values() if path.startswith("/v1/"))

    quota = built("quota", tmp_path / "quota", monkeypatch).api.document()
    city = operation(quota, "/v1/quota/cities/{city_code}", "get")
    assert "text/html" in city["responses"]["200"]["content"]
