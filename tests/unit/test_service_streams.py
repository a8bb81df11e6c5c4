"""Each service reads and writes what schemas/services.py declares, and nothing else (built
without a broker)."""
from __future__ import annotations

import ast
import asyncio
import importlib
from datetime import datetime
from pathlib import Path

import pytest

from runtime.settings import Settings
from runtime.shell import LoopService
from schemas.events import EXAMPLES
from schemas.outputs import ShortageEscalated
from schemas.services import SERVICES
from schemas.topics import TOPICS


def built(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LoopService:
    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    for variable in ("VBP_ALERTS_ROUTES", "VBP_ALLIANCE_CONFIG", "VBP_TOPIC_PREFIX"):
        monkeypatch.delenv(variable, raising=False)
    service = LoopService(Settings.from_env(name))
    importlib.import_module(f"services.{name}.app").build(service)
    return service


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_reads_what_its_entry_declares(name: str, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    service = built(name, monkeypatch, tmp_path)
    read = {base for spec in service.processor.inputs for base in spec.bases}
    contract = {base for base in read if base in TOPICS}  # not its own topics (alerts' ledger)
    assert contract == set(SERVICES[name].consumes)


def test_an_undeclared_input_or_output_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    service = built("quota", monkeypatch, tmp_path)
    with pytest.raises(ValueError, match=r"quota consumes \['vbp.payments'\]"):
        service.consume("vbp.payments")
    with pytest.raises(ValueError, match=r"quota emits \['vbp.escalations'\]"):
        escalation = ShortageEscalated.model_validate(EXAMPLES["vbp.shortage.escalated"])
        # refused before it reaches the processor (which would ask for a running handler)
        asyncio.run(service.emit(escalation, id="e-1", subject="P1",
                                 time=datetime(2020, 4, 1)))


def test_no_service_imports_another() -> None:
    """What services share lives in kernel/, runtime/ and schemas/ (the issue's shape)."""
    root = Path(__file__).resolve().parents[2] / "services"
    crossing = []
    for path in root.glob("*/**/*.py"):
        own = path.relative_to(root).parts[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            crossing += [f"{path.relative_to(root)}: {n}" for n in names
                         if n.startswith("services.") and n.split(".")[1] != own]
    assert crossing == []
