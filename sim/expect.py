"""What a stream of simulated events should make the rules say, computed without Kafka.

An oracle for tests and for the run command's summary: it reads the events the simulator sent
(not its plan), so it also checks that the plan came out as meant. It covers the rules whose
inputs the simulator fully controls: quarterly completion bands (000 §五(三)) and payment
ages against the deadline (000 §五(三)).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from schemas.policy import PolicyProfile
from sim.scenario import Emitted


@dataclass
class Expectation:
    completion: dict[tuple[str, int], Decimal] = field(default_factory=dict)
    """(agreement_id, quarter 1-4) -> counted quantity / target."""
    institution_of: dict[str, str] = field(default_factory=dict)
    warn: set[tuple[str, int]] = field(default_factory=set)
    """(agreement_id, quarter) under the warning threshold (and not under suspension's)."""
    suspend: set[tuple[str, int]] = field(default_factory=set)
    """(agreement_id, quarter) under the suspension threshold."""
    payment_age: dict[str, int] = field(default_factory=dict)
    """delivery_id -> days from acceptance to payment (unpaid: absent)."""
    accepted: dict[str, tuple[str, date]] = field(default_factory=dict)
    """delivery_id -> (institution_id, accepted_on)."""
    paid_on: dict[str, date] = field(default_factory=dict)

    def suspended_in(self, quarter: int) -> set[str]:
        return {self.institution_of[a] for a, q in self.suspend if q == quarter}

    def overdue(self, deadline_days: int) -> dict[str, set[str]]:
        """institution_id -> deliveries paid later than `deadline_days` after acceptance."""
        out: dict[str, set[str]] = defaultdict(set)
        for delivery, age in self.payment_age.items():
            if age > deadline_days:
                out[self.accepted[delivery][0]].add(delivery)
        return out


def expect(events: Iterable[Emitted], policy: PolicyProfile) -> Expectation:
    warn_below = Decimal(str(policy.quota.quarterly_warn_below.value))
    suspend_below = Decimal(str(policy.quota.quarterly_suspend_below.value))
    result = Expectation()
    agreements: dict[tuple[str, str], tuple[str, int, date]] = {}
    orders: dict[str, tuple[str, str, int, date]] = {}
    cancelled: set[str] = set()
    for item in events:
        data = item.event.data
        kind = item.event.type
        if kind == "vbp.agreement.signed":
            agreements[(data.institution_id, data.product_code)] = (
                data.agreement_id, data.agreed_quantity, data.period_start)
            result.institution_of[data.agreement_id] = data.institution_id
        elif kind == "vbp.order.placed":
            orders[data.order_id] = (data.institution_id, data.product_code, data.quantity,
                                     item.event.time.date())
        elif kind == "vbp.order.cancelled":
            cancelled.add(data.order_id)
        elif kind == "vbp.delivery.accepted":
            result.accepted[data.delivery_id] = (data.institution_id, data.accepted_on)
        elif kind == "vbp.payment.made":
            for delivery in data.delivery_ids:
                result.paid_on[delivery] = data.paid_on
    counted: dict[tuple[str, int], int] = defaultdict(int)
    for order_id, (inst, product, quantity, day) in orders.items():
        agreement = agreements.get((inst, product))
        if agreement is None or order_id in cancelled:
            continue
        agreement_id, _, start = agreement
        months = (day.year - start.year) * 12 + day.month - start.month
        if 0 <= months < 12:
            counted[(agreement_id, months // 3 + 1)] += quantity
    for agreement_id, agreed, _ in agreements.values():
        for q in range(1, 5):
            target = agreed // 4 + (1 if q - 1 < agreed % 4 else 0)
            # 4 decimal places, half up: the completion_rate the rules compare (contract).
            rate = (Decimal(counted[(agreement_id, q)]) / Decimal(target)).quantize(
                Decimal("0.0001"), ROUND_HALF_UP)
            result.completion[(agreement_id, q)] = rate
            if rate < suspend_below:
                result.suspend.add((agreement_id, q))
            elif rate < warn_below:
                result.warn.add((agreement_id, q))
    for delivery, (_, accepted_on) in result.accepted.items():
        if delivery in result.paid_on:
            result.payment_age[delivery] = (result.paid_on[delivery] - accepted_on).days
    return result


def quarter_end(year: int, quarter: int) -> date:
    return (date(year + quarter // 4, (3 * quarter) % 12 + 1, 1)) - timedelta(days=1)
