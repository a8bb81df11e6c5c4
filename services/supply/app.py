"""Supply service topology. The supply rules and the HTTP intake come with their own issue."""
from __future__ import annotations

from runtime.service import Service
from schemas.envelope import CloudEvent


def build(service: Service) -> None:
    @service.consume("vbp.supply.reports", "vbp.supply.incidents")
    async def manufacturer_reports(event: CloudEvent) -> None:
        """Monthly reports, production stops and shortfall forecasts, keyed by manufacturer."""

    @service.consume("vbp.orders", "vbp.deliveries")
    async def demand(event: CloudEvent) -> None:
        """Orders and deliveries give demand and unfilled orders."""

    @service.consume("vbp.alliance.inbound")
    async def alliance_in(event: CloudEvent) -> None:
        """Partners' winning products, the alternatives offered in escalations."""
