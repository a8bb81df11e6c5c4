"""Alerts service topology. Routing and receivers come with their own issue."""
from __future__ import annotations

from runtime.service import Service
from schemas.envelope import CloudEvent


def build(service: Service) -> None:
    @service.consume("vbp.warnings", "vbp.escalations", "vbp.decisions")
    async def alerts_in(event: CloudEvent) -> None:
        """Every warning, escalation and decision reaches the alerts service once."""
