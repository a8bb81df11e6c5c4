"""The alerts service's topology, built without a broker."""
from __future__ import annotations

from pathlib import Path

import pytest

from runtime.settings import Settings
from runtime.shell import LoopService
from services.alerts.app import build


def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, routes: str | None) -> LoopService:
    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VBP_TOPIC_PREFIX", "t.")
    if routes is None:
        monkeypatch.delenv("VBP_ALERTS_ROUTES", raising=False)
    else:
        path = tmp_path / "routes.toml"
        path.write_text(routes, "utf-8")
        monkeypatch.setenv("VBP_ALERTS_ROUTES", str(path))
    return LoopService(Settings.from_env("alerts"))


def test_inputs_tables_and_the_internal_ledger(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    built = service(monkeypatch, tmp_path, None)
    alerts = build(built)
    assert alerts.routes.config is None  # no routing file: recorded, routed to nobody
    processor = built.processor
    assert {spec.handler.__name__ for spec in processor.inputs} == {
        "alerts_in", "reference_in", "ledger", "silences"}
    assert alerts.store.ledger_topic == "t.vbp-alerts-ledger"
    # the ledger is keyed like the state and vbp.notifications; silences are read in every task
    assert processor.internal_topics == {"t.vbp-alerts-ledger": 4, "t.vbp-alerts-silences": 1}
    assert processor.group_topics() == ["t.vbp-alerts-ledger", "t.vbp.decisions",
                                        "t.vbp.escalations", "t.vbp.warnings"]


def test_a_bad_routing_file_stops_the_start_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="routing file refused: .*routes.toml: not valid TOML"):
        build(service(monkeypatch, tmp_path, "[route"))
