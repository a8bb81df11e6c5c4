"""A small client of the supply intake, for manufacturers' integration engineers.

    python -m services.supply.client submit --url http://127.0.0.1:8102 --token vbps_... report.json

The file holds the event's ``data`` object (or a list of them); a ``report_id`` makes it a
monthly report, an ``incident_id`` an incident. Prints one JSON answer per object; exits 0 when
every one was accepted (202) or already had been (200), 1 otherwise. Resending is always safe:
an id already accepted answers 200 with the original event id.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return self.status in (200, 202)

    @property
    def event_id(self) -> str | None:
        return self.body.get("event_id") if isinstance(self.body, dict) else None


def endpoint(data: dict[str, Any]) -> str:
    """The intake path for a data object: reports carry report_id, incidents incident_id."""
    if "report_id" in data:
        return "/v1/supply/reports"
    if "incident_id" in data:
        return "/v1/supply/incidents"
    raise ValueError("the object has neither report_id nor incident_id")


class SupplyClient:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}"})

    def submit(self, data: dict[str, Any]) -> Answer:
        return self.post(endpoint(data), json.dumps(data, ensure_ascii=False).encode())

    def post(self, path: str, body: bytes) -> Answer:
        reply = self._http.post(path, content=body, headers={"Content-Type": "application/json"})
        try:
            parsed: Any = reply.json()
        except ValueError:
            parsed = reply.text
        return Answer(reply.status_code, parsed)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SupplyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.supply.client")
    sub = parser.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", help="submit a report or incident file")
    submit.add_argument("--url", required=True, help="supply service, e.g. http://host:8102")
    submit.add_argument("--token", required=True, help="the manufacturer's bearer token")
    submit.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    loaded = json.loads(args.file.read_text(encoding="utf-8"))
    items = loaded if isinstance(loaded, list) else [loaded]
    ok = True
    with SupplyClient(args.url, args.token) as client:
        for data in items:
            try:
                answer = client.submit(data)
            except (ValueError, TypeError) as error:
                answer = Answer(0, {"error": str(error)})
            except httpx.HTTPError as error:
                answer = Answer(0, {"error": f"{type(error).__name__}: {error}"})
            ok = ok and answer.ok
            body = answer.body if isinstance(answer.body, dict) else {"body": answer.body}
            print(json.dumps({"status": answer.status, **body}, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
