"""Settlement service topology. The settlement rules come with their own issue."""
from __future__ import annotations

from runtime.service import Service
from schemas.envelope import CloudEvent


def build(service: Service) -> None:
    @service.consume("vbp.deliveries", "vbp.payments")
    async def money_in(event: CloudEvent) -> None:
        """Accepted deliveries become payables; payments and prepayments settle them."""

    @service.on_tick
    async def settlement_tick(tick: CloudEvent, partition: int) -> None:
        """Due dates and working-day counts are evaluated on ticks."""
