"""The OpenAPI 3.1 document each service publishes at GET /openapi.json.

It is built from what the service registers with `Service.route`: path, method, path parameters,
and what the call adds (`summary`, `body`, `auth`, `query`, `responses`, `content_type`, the
fields of `Operation`). Request bodies are the pydantic models the handlers validate with.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

JSON = "application/json"
VERSION = "0.1.0"  # pyproject.toml
BEARER = {"bearer": {"type": "http", "scheme": "bearer"}}
PATH_PARAMETER = re.compile(r"{(\w+)}")
REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 401: "Missing, unknown or wrong credentials",
    403: "Not allowed for these credentials", 404: "Not found", 409: "Conflict",
    413: "Body too large", 422: "Invalid request", 503: "Unavailable for now: send it again",
}

# A request body: one model, one of several models, or a JSON schema.
Body = type[BaseModel] | tuple[type[BaseModel], ...] | dict[str, Any]


@dataclass(frozen=True)
class Operation:
    path: str
    method: str  # upper case
    summary: str | None = None
    body: Body | None = None
    auth: Mapping[str, dict[str, Any]] | None = None  # security schemes, all of them required
    query: Sequence[str] = ()  # optional string query parameters
    responses: Mapping[int, str] = field(default_factory=dict)  # status -> description
    content_type: str = JSON  # of the success response


class ApiDocument:
    """The operations a service serves on its web server, and their OpenAPI document."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.operations: list[Operation] = []

    def add(self, path: str, method: str, handler: Any, **doc: Any) -> None:
        summary = (handler.__doc__ or "").strip().split("\n")[0] or None
        self.operations.append(Operation(path, method.upper(), **{"summary": summary, **doc}))

    async def serve(self, request: Any) -> dict[str, Any]:
        return self.document()

    def document(self) -> dict[str, Any]:
        models = sorted({m for op in self.operations for m in _models(op.body)},
                        key=lambda m: m.__name__)
        refs, defs = models_json_schema([(m, "validation") for m in models],
                                        ref_template="#/components/schemas/{model}")
        schemes: dict[str, Any] = {}
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            schemes.update(op.auth or {})
            paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
        components: dict[str, Any] = {"schemas": defs.get("$defs", {})}
        if schemes:
            components["securitySchemes"] = schemes
        return {"openapi": "3.1.0", "info": {"title": self.title, "version": VERSION},
                "paths": paths, "components": components}


def _models(body: Body | None) -> tuple[type[BaseModel], ...]:
    if isinstance(body, type):
        return (body,)
    return body if isinstance(body, tuple) else ()


def _operation(op: Operation, refs: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"responses": _responses(op)}
    if op.summary:
        out["summary"] = op.summary
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1}}
                  for name in PATH_PARAMETER.findall(op.path)]
    parameters += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                   for name in op.query]
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        if isinstance(op.body, dict):
            schema = op.body
        else:
            options = [refs[(m, "validation")] for m in _models(op.body)]
            schema = options[0] if len(options) == 1 else {"oneOf": options}
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    if op.auth:
        out["security"] = [{name: [] for name in op.auth}]
    return out


def _responses(op: Operation) -> dict[str, Any]:
    """The statuses given, plus those every such route can answer: 200 unless another success
    is given, 401 with credentials, 404 with path parameters, 422 with a body."""
    statuses = dict(op.responses)
    if not any(200 <= s < 300 for s in statuses):
        statuses[200] = REASONS[200]
    if op.auth:
        statuses.setdefault(401, REASONS[401])
    if PATH_PARAMETER.search(op.path):
        statuses.setdefault(404, REASONS[404])
    if op.body is not None:
        statuses.setdefault(422, REASONS[422])
    out = {}
    for status in sorted(statuses):
        if status < 300:
            content = {op.content_type: {"schema": {}}}
        else:  # errors are JSON objects: {"error": ...} and more
            content = {JSON: {"schema": {"type": "object"}}}
        out[str(status)] = {"description": statuses[status] or REASONS.get(status, ""),
                            "content": content}
    return out
