"""The alerts service's topology, built without a broker."""
from __future__ import annotations

from pathlib import Path

import pytest

from runtime.service import Service
from runtime.settings import Settings
from services.alerts.app import build


def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, routes: str | None) -> Service:
    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VBP_TOPIC_PREFIX", "t.")
    if routes is None:
        monkeypatch.delenv("VBP_ALERTS_ROUTES", raising=False)
    else:
        path = tmp_path / "routes.toml"
        path.write_text(routes, "utf-8")
        monkeypatch.setenv("VBP_ALERTS_ROUTES", str(path))
    return Service(Settings.from_env("alerts"))


def test_agents_tables_and_the_internal_ledger(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    built = service(monkeypatch, tmp_path, None)
    alerts = build(built)
    assert alerts.routes.config is None  # no routing file: recorded, routed to nobody
    agents = sorted(built.app.agents)
    assert agents == sorted(f"t.vbp-alerts.{name}" for name in (
        "alerts_in", "institutions_in", "products_in", "ledger", "silences"))
    assert alerts.store.ledger_name == "t.vbp-alerts-ledger"
    assert alerts.store.ledger_topic.partitions == 4  # co-partitioned with vbp.notifications
    assert alerts.store.alerts.partitions == 4 and alerts.store.silences.partitions == 1


def test_a_bad_routing_file_stops_the_start_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="routing file refused: .*routes.toml: not valid TOML"):
        build(service(monkeypatch, tmp_path, "[route"))
