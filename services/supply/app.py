"""Supply service: manufacturer intake, stock and demand, shortage escalation, trading gates.

Inputs go to tables (state.py) by one agent per topic group; the rules run on clock ticks
(evaluate.py); manufacturers submit over HTTP (intake.py, tokens.py); the read API is views.py.
One worker owns every partition (see state.py).
"""
from __future__ import annotations

from runtime.service import Service, input_time
from schemas.envelope import CloudEvent
from services.supply.evaluate import Evaluator
from services.supply.intake import Intake
from services.supply.state import SupplyState
from services.supply.tokens import TokenStore, default_path
from services.supply.views import Views


class Supply:
    def __init__(self, service: Service) -> None:
        self.state = SupplyState(service)
        self.evaluator = Evaluator(service, self.state)
        self.tokens = TokenStore(default_path())
        self.intake = Intake(service, self.tokens, self.state.owner_of)
        self.views = Views(service, self.state, self.evaluator)


def build(service: Service) -> Supply:
    supply = Supply(service)
    state = supply.state

    @service.consume("vbp.ref.products")
    async def supply_products_in(event: CloudEvent) -> None:
        await state.on_reference(event)

    @service.consume("vbp.ref.institutions")
    async def supply_institutions_in(event: CloudEvent) -> None:
        await state.on_reference(event)

    @service.consume("vbp.ref.agreements")
    async def supply_agreements_in(event: CloudEvent) -> None:
        await state.on_reference(event)

    @service.consume("vbp.supply.reports", "vbp.supply.incidents")
    async def manufacturer_reports(event: CloudEvent) -> None:
        """Monthly reports, production stops and shortfall forecasts, keyed by manufacturer."""
        await state.on_supply(event, input_time())

    @service.consume("vbp.orders", "vbp.deliveries")
    async def demand(event: CloudEvent) -> None:
        """Orders and deliveries give demand and unfilled orders."""
        await state.on_trade(event, input_time())

    @service.consume("vbp.alliance.inbound")
    async def alliance_in(event: CloudEvent) -> None:
        """Partners' winning products, the alternatives offered in escalations."""
        await state.on_partner(event)

    @service.on_tick
    async def supply_tick(tick: CloudEvent, partition: int) -> None:
        await supply.evaluator.on_tick(tick, partition)

    return supply
