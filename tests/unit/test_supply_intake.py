"""The supply intake's pure parts: tokens, body validation, event ids, the client's routing.

Contract, HTTP: "202 with the event id; 401 unknown token; 403 when the body names another
manufacturer; 422 with field errors; a resent report id answers 200 with the original event id."
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from runtime.shell import Reply
from schemas.events import EXAMPLES
from services.supply import client, tokens
from services.supply.intake import Submission, bearer, event_type, parse
from services.supply.views import due_by

REPORT = EXAMPLES["vbp.supply.monthly_reported"]
STOP = EXAMPLES["vbp.supply.production_stopped"]
MAKER = REPORT["manufacturer_id"]


def body(data: object) -> bytes:
    return json.dumps(data).encode()


# tokens ------------------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = tokens.issue(path, MAKER)
    text = path.read_text()
    assert token not in text and tokens.digest(token) in text
    assert os.stat(path).st_mode & 0o077 == 0  # not readable by others
    assert tokens.TokenStore(path).manufacturer_of(token) == MAKER


def test_revoking_takes_effect_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = tokens.TokenStore(path)
    first = tokens.issue(path, MAKER)
    assert store.manufacturer_of(first) == MAKER
    second = tokens.issue(path, MAKER, revoke_others=True)  # rotation
    assert store.manufacturer_of(first) is None
    assert store.manufacturer_of(second) == MAKER
    assert tokens.revoke(path, MAKER) == 1
    assert store.manufacturer_of(second) is None


def test_revoke_by_hash_prefix_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    a, b = tokens.issue(path, MAKER), tokens.issue(path, MAKER)
    assert tokens.revoke(path, MAKER, tokens.digest(a)[:12]) == 1
    store = tokens.TokenStore(path)
    assert store.manufacturer_of(a) is None and store.manufacturer_of(b) == MAKER


def test_no_token_file_means_no_valid_token(tmp_path: Path) -> None:
    assert tokens.TokenStore(tmp_path / "absent.json").manufacturer_of("vbps_x") is None


def test_the_cli_issues_lists_and_refuses_bad_ids(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tokens.json"
    assert tokens.main(["--file", str(path), "issue", MAKER]) == 0
    manufacturer, token = capsys.readouterr().out.split()
    assert manufacturer == MAKER and tokens.TokenStore(path).manufacturer_of(token) == MAKER
    assert tokens.main(["--file", str(path), "list"]) == 0
    assert capsys.readouterr().out.split()[-1] == "live"
    assert tokens.main(["--file", str(path), "issue", "M123"]) == 2


def test_bearer_header_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None and bearer("") is None and bearer("Bearer ") is None


# bodies ------------------------------------------------------------------------------------


def test_a_valid_report_becomes_an_event_with_an_id_derived_from_the_report_id() -> None:
    sub = parse("reports", body(REPORT), MAKER)
    assert isinstance(sub, Submission)
    assert sub.topic == "vbp.supply.reports"
    assert sub.event_id == f"vbp.supply.monthly_reported:{MAKER}:{REPORT['report_id']}"
    again = parse("reports", body({**REPORT, "inventory_quantity": 1}), MAKER)
    assert isinstance(again, Submission) and again.event_id == sub.event_id


def test_stop_and_resumption_under_one_incident_id_are_two_events() -> None:
    stop = parse("incidents", body(STOP), STOP["manufacturer_id"])
    resumed = parse("incidents", body(EXAMPLES["vbp.supply.production_resumed"]),
                    STOP["manufacturer_id"])
    assert isinstance(stop, Submission) and isinstance(resumed, Submission)
    assert (stop.type, resumed.type) == ("vbp.supply.production_stopped",
                                         "vbp.supply.production_resumed")
    assert stop.event_id != resumed.event_id


def test_incident_types_are_told_apart_by_their_fields_or_named() -> None:
    assert event_type("incidents", EXAMPLES["vbp.supply.shortfall_forecast"]) == \
        "vbp.supply.shortfall_forecast"
    assert event_type("incidents", {"incident_id": "x"}) is None
    assert event_type("incidents", {"stopped_on": "x", "resumed_on": "y"}) is None
    assert event_type("incidents", {"type": "vbp.supply.production_resumed",
                                    "stopped_on": "x", "resumed_on": "y"}) == \
        "vbp.supply.production_resumed"


def status(result: Submission | Reply) -> int:
    return result.status if isinstance(result, Reply) else 202


def test_field_errors_answer_422_naming_each_field() -> None:
    result = parse("reports", body({**REPORT, "month": "2020-13", "payments_received": 1.5}),
                   MAKER)
    assert isinstance(result, Reply) and result.status == 422
    assert {tuple(e["loc"]) for e in result.body["errors"]} == {("month",), ("payments_received",)}
    assert status(parse("reports", b"[1, 2]", MAKER)) == 422
    assert status(parse("reports", b"\xff\xfe", MAKER)) == 422
    assert status(parse("incidents", body({"incident_id": "inc-1"}), MAKER)) == 422


def test_another_manufacturers_data_answers_403() -> None:
    assert status(parse("reports", body(REPORT), "M99999999999")) == 403
    owners = {REPORT["product_code"]: "M99999999999"}
    assert status(parse("reports", body(REPORT), MAKER, owners.get)) == 403
    assert status(parse("reports", body(REPORT), MAKER, {REPORT["product_code"]: MAKER}.get)) == 202


def test_a_report_is_due_by_the_profiles_day_of_the_next_month() -> None:
    assert str(due_by("2020-01", 10)) == "2020-02-10"
    assert str(due_by("2020-01", 31)) == "2020-02-29"
    assert due_by("2020-01", None) is None


# client ------------------------------------------------------------------------------------


def test_the_client_routes_by_id_and_sends_the_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"event_id": "e-1"})

    with client.SupplyClient("http://intake", "vbps_t",
                             transport=httpx.MockTransport(answer)) as c:
        assert c.submit(dict(REPORT)).event_id == "e-1"
        assert c.submit(dict(STOP)).ok
    assert [r.url.path for r in seen] == ["/v1/supply/reports", "/v1/supply/incidents"]
    assert seen[0].headers["Authorization"] == "Bearer vbps_t"
    assert json.loads(seen[0].content) == REPORT
    with pytest.raises(ValueError):
        client.endpoint({"month": "2020-01"})
