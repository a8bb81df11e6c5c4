"""Supply service: manufacturer intake, stock and demand, shortage escalation, trading gates.

Inputs go to tables (state.py) by one handler per topic group; the rules run on clock ticks
(evaluate.py); manufacturers submit over HTTP (intake.py, tokens.py); the read API is views.py.
All of it runs in one task of the processing core (LoopService.one_task; see state.py).
"""
from __future__ import annotations

from runtime.shell import LoopService
from schemas.envelope import CloudEvent
from services.supply.evaluate import Evaluator
from services.supply.intake import Intake
from services.supply.state import SupplyState
from services.supply.tokens import TokenStore, default_path
from services.supply.views import Views


class Supply:
    def __init__(self, service: LoopService) -> None:
        self.state = SupplyState(service)
        self.evaluator = Evaluator(service, self.state)
        self.tokens = TokenStore(default_path())
        self.intake = Intake(service, self.tokens, self.state.owner_of)
        self.views = Views(service, self.state, self.evaluator)


def build(service: LoopService) -> Supply:
    service.one_task()
    supply = Supply(service)
    state = supply.state

    @service.on_reference("vbp.ref.products", "vbp.ref.institutions", "vbp.ref.agreements")
    async def supply_reference_in(event: CloudEvent, partition: int) -> None:
        await state.on_reference(event)

    @service.consume_shared("vbp.supply.reports", "vbp.supply.incidents")
    async def manufacturer_reports(event: CloudEvent, partition: int) -> None:
        """Monthly reports, production stops and shortfall forecasts, keyed by manufacturer."""
        await state.on_supply(event, service.input_time())

    @service.consume_shared("vbp.orders", "vbp.deliveries")
    async def demand(event: CloudEvent, partition: int) -> None:
        """Orders and deliveries give demand and unfilled orders."""
        await state.on_trade(event, service.input_time())

    @service.on_reference("vbp.alliance.inbound")
    async def alliance_in(event: CloudEvent, partition: int) -> None:
        """Partners' winning products, the alternatives offered in escalations."""
        await state.on_partner(event)

    @service.on_tick
    async def supply_tick(tick: CloudEvent, partition: int) -> None:
        await supply.evaluator.on_tick(tick, partition)

    return supply
