"""The agreement year as a deterministic stream of contract events.

`simulate(config)` yields every message the simulated province sends, in the order it sends
them: reference data (institutions, products, agreements, alliance partners' winners), then day
by day the tick `as_of=D` ("day D has begun"), followed by day D's prepayments, manufacturers'
reports and incidents, orders, deliveries and payments; after the last day, the closing tick.
Nothing here touches Kafka or the clock: the same config always yields the same events, ids
included, so a replay or a test sees exactly what a run sent.

Behaviours are planned up front (`Plan`), so a test can ask which institutions were meant to
under-buy or pay late and check the stream against it.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from policies import load_profile
from policies.workdays import WorkdayCalendar
from schemas.envelope import CloudEvent, new_event
from schemas.policy import PolicyProfile
from schemas.topics import TYPE_TOPIC, key_of
from sim import drugs, geo
from sim.config import SimConfig
from sim.registry import Agreement, Institution, Product, Registry, build_registry

ONE_DAY = timedelta(days=1)
# Days between two orders of one product, per institution tier (divided by config.scale).
ORDER_INTERVAL = {"tertiary": 28, "secondary": 35, "military": 35, "private": 42,
                  "primary": 42, "pharmacy": 42}
# Relative demand by month inside a quarter: Spring Festival in February, National Day in
# October, winter peaks (seasonality moves orders within a quarter, not the quarter's total).
SEASON = {1: 1.1, 2: 0.75, 3: 1.0, 4: 1.0, 5: 0.95, 6: 1.0, 7: 0.95, 8: 0.95, 9: 1.05,
          10: 0.85, 11: 1.05, 12: 1.15}
PAYMENT_CYCLE_DAYS = 24  # institutions pay their distributors every 24 days (deadline 30)
REJECT_REASONS = ("外包装破损", "效期不足六个月", "数量与订单不符", "冷链温度记录缺失")


PlannedOrder = tuple[Agreement | None, Institution, Product, int, str]
"""(agreement or None for a non-winning purchase, institution, product, quantity, why)."""


@dataclass(frozen=True)
class Emitted:
    """One message: contract topic (unprefixed), Kafka key, event, and its simulated day."""

    topic: str
    key: str
    event: CloudEvent
    day: date | None
    """The simulated day it belongs to; None for reference data sent before the year."""


@dataclass(frozen=True)
class PayHold:
    """Deliveries an institution accepted in [start, end] stay unpaid until `paid_on`."""

    institution_id: str
    start: date
    end: date
    paid_on: date
    expect: str
    """What the overdue chain should do: "warning" or "suspension"."""


@dataclass
class Plan:
    """What the scenario means to happen; tests compare the event stream against it."""

    behaviours: dict[str, str] = field(default_factory=dict)
    """institution_id -> normal, slow_starter, laggard, chronic, over_buyer."""
    non_winning: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    """institution_id -> (generic name, months) bought mostly as non-winning products."""
    holds: list[PayHold] = field(default_factory=list)
    catch_up_day: dict[str, date] = field(default_factory=dict)
    stop: dict[str, Any] | None = None
    falling_stock: str | None = None
    late_reports: dict[tuple[str, str], date] = field(default_factory=dict)
    """(product_code, month) -> the late day its report is sent."""
    late_city: tuple[str, date, date] | None = None
    """(city_code, first order day, last order day): a week of late deliveries in one city."""


def _time(day: date, hour: int, seq: int) -> str:
    seconds = hour * 3600 + seq * 2
    h, rest = divmod(min(seconds, 86399), 3600)
    return f"{day.isoformat()}T{h:02d}:{rest // 60:02d}:{rest % 60:02d}+08:00"


def _pack_round(x: float, pack: int) -> int:
    return max(pack, int(round(x / pack)) * pack)


def _pack_up(x: float, pack: int) -> int:
    return max(pack, int(math.ceil(x / pack)) * pack)


def _money(x: Decimal) -> str:
    return format(x.quantize(Decimal("0.0001")), "f")


class Scenario:
    def __init__(self, config: SimConfig, policy: PolicyProfile | None = None) -> None:
        self.config = config
        self.policy = policy or load_profile(config.policy)
        if self.policy.region_code != geo.PROVINCE_CODE:
            raise ValueError(f"the simulator's registry covers {geo.PROVINCE_NAME} "
                             f"({geo.PROVINCE_CODE}) only, not {self.policy.region_code}")
        self.province = self.policy.region_code
        self.platform = f"/platform/{self.province}"
        self.registry: Registry = build_registry(config, self.policy)
        self.calendar = WorkdayCalendar()
        self.plan = Plan()
        self.year = config.year
        self.first, self.last = config.first_day, config.last_day
        self.demand = self._monthly_demand()
        self.orders_by_day: dict[date, list[PlannedOrder]] = defaultdict(list)
        self._plan_behaviours()
        self._plan_orders()
        self._plan_holds()
        self._plan_supply()
        self._plan_payments()

    # -- planning -----------------------------------------------------------------------------

    def rng(self, *names: object) -> random.Random:
        return random.Random(":".join(str(n) for n in (self.config.seed, *names)))

    def _workday_on_or_after(self, day: date) -> date:
        while not self.calendar.is_workday(day):
            day += ONE_DAY
        return day

    def _monthly_demand(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for a in self.registry.agreements:
            totals[a.product.code] += a.agreed_quantity
        return {code: max(1, round(total * 1.1 / 12)) for code, total in totals.items()}

    def _agreements_of(self) -> dict[str, list[Agreement]]:
        by: dict[str, list[Agreement]] = defaultdict(list)
        for a in self.registry.agreements:
            by[a.institution.institution_id].append(a)
        return by

    def _plan_behaviours(self) -> None:
        cfg, n = self.config, self.config.institutions
        rng = self.rng("behaviours")
        by_inst = self._agreements_of()
        hospitals = sorted(i for i, ags in by_inst.items() if i.startswith("H"))
        rng.shuffle(hospitals)
        behaviours = {i: "normal" for i in by_inst}
        pick = iter(hospitals)
        if cfg.on("under_buying"):
            for name, share, least in (("slow_starter", 0.04, 2), ("laggard", 0.04, 2),
                                       ("chronic", 0.015, 1)):
                for _ in range(max(least, round(n * share))):
                    behaviours[next(pick)] = name
        if cfg.on("over_buying"):
            others = [i for i in sorted(by_inst) if behaviours[i] == "normal"]
            for i in rng.sample(others, max(1, round(n * 0.08))):
                behaviours[i] = "over_buyer"
        self.plan.behaviours = behaviours
        if cfg.on("non_winning"):
            normal = [i for i in sorted(by_inst) if behaviours[i] in ("normal", "over_buyer")]
            for i in rng.sample(normal, min(len(normal), max(1, round(n * 0.05)))):
                generic = rng.choice(sorted(a.product.generic.name for a in by_inst[i]))
                self.plan.non_winning[i] = (generic, ())  # months chosen with the orders

    def _plan_holds(self) -> None:
        """Overdue chain (000 §五(三)): three institutions hold their payments for the
        deliveries of a window. For each window the institution with the most orders in it
        is chosen, so the window holds deliveries whatever the seed."""
        if not self.config.on("late_payment"):
            return
        y = self.year
        by_inst = self._agreements_of()
        behaviours = self.plan.behaviours
        candidates = sorted(i for i, ags in by_inst.items()
                            if i.startswith("H") and behaviours[i] == "normal"
                            and i not in self.plan.non_winning and 4 <= len(ags) <= 14)
        # Paid 8-11 weeks late: the warnings mature into a suspension, lifted once paid.
        # Paid a few days after the first warnings: a warning, no suspension (the earliest
        # delivery of the window is warned on 07-27, its 10 working days end on 08-10).
        windows = ((date(y, 3, 2), date(y, 3, 31), date(y, 5, 8), "suspension"),
                   (date(y, 6, 26), date(y, 7, 7), date(y, 8, 7), "warning"),
                   (date(y, 9, 1), date(y, 9, 30), date(y, 11, 20), "suspension"))
        for start, end, paid, expect in windows:
            def orders_in(inst: str, start: date = start, end: date = end) -> int:
                return sum(1 for day, items in self.orders_by_day.items()
                           if start <= day + ONE_DAY and day + timedelta(days=3) <= end
                           for _, i, _, _, _ in items if i.institution_id == inst)
            best = max(candidates, key=lambda i: (orders_in(i), i))
            candidates.remove(best)
            self.plan.holds.append(PayHold(best, start, end, paid, expect))

    def _order_days(self, agreement: Agreement, interval: int, rng: random.Random) -> list[date]:
        day = self.first + timedelta(days=rng.randrange(interval))
        days = []
        while day <= date(self.year, 12, 31):
            actual = self._workday_on_or_after(day)
            if actual.year == self.year and (not days or actual > days[-1]):
                days.append(actual)
            day += timedelta(days=interval)
        return days

    def _spread(self, total: int, days: list[date], pack: int,
                rng: random.Random) -> list[tuple[date, int]]:
        """`total` spread over `days` in whole packs. No order is less than a pack: with fewer
        packs than days, only every so many of the days get one (at a large scale an agreement
        has many order days; one pack on each would overshoot its quantity many times)."""
        if not days:
            return []
        if total < pack * len(days):
            packs = max(1, total // pack)
            days = [days[i * len(days) // packs] for i in range(packs)]
        weights = [SEASON[d.month] * rng.uniform(0.8, 1.2) for d in days]
        whole = sum(weights)
        quantities = [_pack_round(total * w / whole, pack) for w in weights[:-1]]
        quantities.append(max(pack, total - sum(quantities)))
        return list(zip(days, quantities, strict=True))

    def _plan_orders(self) -> None:
        cfg = self.config
        for a in self.registry.agreements:
            inst = a.institution
            rng = self.rng("orders", a.agreement_id)
            interval = max(3, round(ORDER_INTERVAL[inst.tier] / cfg.scale))
            days = self._order_days(a, interval, rng)
            quarter_targets = [a.agreed_quantity // 4 + (1 if q < a.agreed_quantity % 4 else 0)
                               for q in range(4)]
            behaviour = self.plan.behaviours.get(inst.institution_id, "normal")
            multipliers = self._multipliers(behaviour, inst.institution_id, rng)
            pack = a.product.generic.pack
            plan: list[tuple[date, int]] = []
            q1_total = 0
            for q in range(4):
                start = date(self.year, 3 * q + 1, 1)
                end = date(self.year, 3 * q + 4, 1) - ONE_DAY if q < 3 else date(self.year, 12, 31)
                in_q = [d for d in days if start <= d <= end]
                target = quarter_targets[q]
                total = _pack_round(target * multipliers[q], pack)
                if behaviour == "slow_starter" and q == 1:
                    plan += self._catch_up_quarter(a, in_q, target, quarter_targets[0], q1_total,
                                                   multipliers[q], rng)
                    continue
                spread = self._spread(total, in_q, pack, rng)
                if q == 0:
                    q1_total = sum(quantity for _, quantity in spread)
                plan += spread
            for day, quantity in plan:
                self.orders_by_day[day].append((a, inst, a.product, quantity, "plan"))
            nw = self.plan.non_winning.get(inst.institution_id)
            if nw and nw[0] == a.product.generic.name:
                self._plan_non_winning(a, plan)

    def _multipliers(self, behaviour: str, institution_id: str, rng: random.Random) -> list[float]:
        seasonal = (0.95, 1.0, 1.0, 1.05)
        normal = [s * rng.uniform(1.0, 1.2) for s in seasonal]
        if behaviour == "slow_starter":
            return [rng.uniform(0.52, 0.64), rng.uniform(1.0, 1.1), *normal[2:]]
        if behaviour == "chronic":
            return [rng.uniform(0.5, 0.62) for _ in range(4)]
        if behaviour == "laggard":
            weak = self.rng("laggard", institution_id).randrange(3)  # same quarter for all
            return [rng.uniform(0.72, 0.78) if q == weak else normal[q] for q in range(4)]
        if behaviour == "over_buyer":
            return [rng.uniform(1.3, 1.6) for _ in range(4)]
        return normal

    def _catch_up_quarter(self, a: Agreement, days: list[date], target: int, q1_target: int,
                          q1_total: int, m: float, rng: random.Random) -> list[tuple[date, int]]:
        """Q2 of a slow starter (000 §五(三)): still slow until a catch-up purchase late in
        May brings the cumulative quantity up to the cumulative task, then the usual pace."""
        inst = a.institution.institution_id
        if inst not in self.plan.catch_up_day:
            r = self.rng("catch-up", inst)
            self.plan.catch_up_day[inst] = self._workday_on_or_after(
                date(self.year, 5, 18) + timedelta(days=r.randrange(20)))
        lump_day = self.plan.catch_up_day[inst]
        pack = a.product.generic.pack
        before = [d for d in days if d < lump_day]
        after = [d for d in days if d > lump_day]
        # Still slow, and short of the cumulative task by at least two boxes until the lump.
        room = q1_target - q1_total - 2 * pack
        pre_total = min(0.55 * target * len(before) / max(1, len(days)), room)
        before = before[:max(0, int(pre_total // pack))]
        pre = self._spread(int(pre_total // pack) * pack, before, pack, rng)
        pre_sum = sum(quantity for _, quantity in pre)
        lump = _pack_up(q1_target - q1_total - pre_sum, pack) + pack
        # Q2 makes up Q1's gap as well, so the year still reaches the agreed quantity.
        gap = max(0, q1_target - q1_total)
        rest = _pack_round(target * m + gap, pack) - pre_sum - lump
        if not after:
            lump += max(0, rest)
        post = self._spread(max(pack, rest), after, pack, rng)
        assert q1_total + pre_sum < q1_target <= q1_total + pre_sum + lump
        return [*pre, (lump_day, lump), *post]

    def _plan_non_winning(self, a: Agreement, plan: list[tuple[date, int]]) -> None:
        """quota.non_winning_ratio (000 §五(一)): in a spring and an autumn month with winning
        orders, the institution buys more of the generic name as non-winning products (in
        reference units) than as the winner."""
        others = [p for p in self.registry.products
                  if p.generic is a.product.generic and not p.offer.winning]
        product = others[0]
        pack = product.generic.pack
        ordered = sorted({d.month for d, _ in plan})
        months = tuple(next((m for m in ordered if m in wanted), wanted[0])
                       for wanted in ((3, 4, 5), (8, 9, 10)))
        months = tuple(sorted(set(months)))
        self.plan.non_winning[a.institution.institution_id] = (a.product.generic.name, months)
        for month in months:
            winning = sum(q for d, q in plan if d.month == month) * a.product.offer.reference_units
            quantity = _pack_up(float(winning * Decimal("1.3") / product.offer.reference_units) / 2,
                                pack)
            for day in (date(self.year, month, 6), date(self.year, month, 20)):
                self.orders_by_day[self._workday_on_or_after(day)].append(
                    (None, a.institution, product, quantity, "non_winning"))

    def _plan_supply(self) -> None:
        y = self.year
        winners = self.registry.winners()
        if self.config.on("production_stop"):
            generic = drugs.GENERIC_BY_NAME[drugs.STOPPED_GENERIC]
            product = self.registry.product(generic.name, generic.winners[0].maker.manufacturer_id)
            alternative = self.registry.product(generic.name,
                                                generic.winners[1].maker.manufacturer_id)
            self.plan.stop = {
                "product": product, "alternative": alternative,
                "incident_id": f"inc-{product.manufacturer_id}-{y}-0001",
                # A foreseen shortfall is an incident of its own, not the stop's.
                "forecast_id": f"inc-{product.manufacturer_id}-{y}-0002",
                "stopped_on": date(y, 6, 15), "expected_resume_on": date(y, 7, 31),
                "forecast_on": date(y, 7, 20), "resumed_on": date(y, 8, 5),
            }
        if self.config.on("falling_stock"):
            generic = drugs.GENERIC_BY_NAME[drugs.FALLING_STOCK_GENERIC]
            self.plan.falling_stock = self.registry.product(
                generic.name, generic.winners[0].maker.manufacturer_id).code
        rng = self.rng("reports")
        self.report_day: dict[tuple[str, int], date] = {}
        late_products = sorted(p.code for p in winners)
        late = set(rng.sample(late_products, 2)) if self.config.on("late_report") else set()
        for product in winners:
            maker_rng = self.rng("report-day", product.manufacturer_id)
            usual = maker_rng.randrange(2, 9)
            for month in range(1, 12):
                day = date(y, month + 1, usual)
                if product.code in late and month in (2, 7):
                    day = date(y, month + 1, rng.randrange(14, 21))
                    self.plan.late_reports[(product.code, f"{y}-{month:02d}")] = day
                self.report_day[(product.code, month)] = day
        if self.config.on("late_delivery"):
            # 凝冻 (freezing rain) closes Bijie's mountain roads for a week.
            self.plan.late_city = ("520500", date(y, 11, 16), date(y, 11, 24))

    def _plan_payments(self) -> None:
        self.pay_offset = {i.institution_id: self.rng("pay", i.institution_id).randrange(
            PAYMENT_CYCLE_DAYS) for i in self.registry.institutions}

    # -- the stream ---------------------------------------------------------------------------

    def events(self) -> Iterator[Emitted]:
        yield from self.reference()
        self._unpaid: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._deliveries: dict[date, list[dict[str, Any]]] = defaultdict(list)
        self._supplied: dict[tuple[str, int], int] = defaultdict(int)
        self._inventory = {p.code: round(self.demand.get(p.code, 0) * 2.2)
                           for p in self.registry.winners()}
        self._seq: dict[tuple[date, str], int] = defaultdict(int)
        stop = self.plan.stop
        self._stop_level = round(self.demand[stop["product"].code] * 1.3) if stop else 0
        self._stop_stock = self._stop_level
        self._stop_month_end: dict[int, int] = {}
        self._stop_produced: dict[int, int] = defaultdict(int)
        self._stop_supplied_before = 0
        day = self.first
        while day <= self.last:
            yield self.tick(day)
            yield from self.day_events(day)
            day += ONE_DAY
        yield self.tick(day)

    def _next(self, day: date, kind: str) -> int:
        self._seq[(day, kind)] += 1
        return self._seq[(day, kind)]

    def emit(self, type_: str, data: dict[str, Any], *, id: str, time: str,
             source: str | None = None, day: date | None = None, province: str | None = None,
             key: str | None = None, topic: str | None = None) -> Emitted:
        event = new_event(type_, data, id=id, source=source or self.platform, time=time,
                          province=province or self.province)
        event_key = key or key_of(event)
        event = event.model_copy(update={"subject": event_key})
        return Emitted(topic or TYPE_TOPIC[type_], event_key, event, day)

    def tick(self, day: date) -> Emitted:
        return self.emit("vbp.clock.tick", {"as_of": day.isoformat()}, id=f"tick-{day.isoformat()}",
                         time=f"{day.isoformat()}T00:00:00+08:00", day=day - ONE_DAY)

    def reference(self) -> Iterator[Emitted]:
        reg = self.registry
        eve = date(self.year - 1, 12, 20)
        for n, inst in enumerate(reg.institutions):
            yield self.emit("vbp.institution.registered", {
                "institution_id": inst.institution_id, "name": inst.name,
                "county_code": inst.county_code, "city_code": inst.city_code, "kind": inst.kind,
                "insurance_designated": inst.designated,
            }, id=f"inst-{inst.institution_id}", time=_time(eve, 9, n))
        for n, p in enumerate(reg.products):
            yield self.emit("vbp.product.listed", {
                "product_code": p.code, "generic_name": p.generic.name,
                "specification": p.offer.strength, "unit": p.generic.unit,
                "manufacturer_id": p.manufacturer_id, "winning": p.offer.winning,
                "price": _money(p.offer.price), "consistency_passed": p.offer.consistency_passed,
                "reference_units": format(p.offer.reference_units, "f"),
            }, id=f"prd-{p.code}", time=_time(eve, 10, n))
        for n, a in enumerate(reg.agreements):
            yield self.emit("vbp.agreement.signed", {
                "agreement_id": a.agreement_id, "institution_id": a.institution.institution_id,
                "product_code": a.product.code, "generic_name": a.product.generic.name,
                "cycle_year": self.year, "period_start": a.period_start.isoformat(),
                "period_end": a.period_end.isoformat(), "agreed_quantity": a.agreed_quantity,
                "price": _money(a.product.offer.price),
                "manufacturer_id": a.product.manufacturer_id,
                "distributor_ids": list(a.distributor_ids),
            }, id=a.agreement_id, time=_time(date(self.year - 1, 12, 25), 9, n))
        if self.config.on("alliance") and self.config.on("production_stop"):
            generic = drugs.GENERIC_BY_NAME[drugs.STOPPED_GENERIC]
            for n, (province, maker, strength, price) in enumerate(drugs.ALLIANCE_PARTNERS):
                offer = drugs.Offer(maker, strength, Decimal(price), True)
                code = (drugs.product_code(generic, generic.offers[0])[:-5]
                        + maker.manufacturer_id[-5:])
                yield self.emit("vbp.product.listed", {
                    "product_code": code, "generic_name": generic.name, "specification": strength,
                    "unit": generic.unit, "manufacturer_id": maker.manufacturer_id,
                    "winning": True, "price": _money(offer.price), "consistency_passed": True,
                    "reference_units": "1",
                }, id=f"alliance-{province}-prd-{code}", time=_time(eve, 11, n),
                    source=f"/alliance/{province}", province=province, key=province,
                    topic="vbp.alliance.inbound")

    def day_events(self, day: date) -> Iterator[Emitted]:
        out: list[Emitted] = []
        out += self._prepayments(day)
        out += self._reports(day)
        out += self._incidents(day)
        out += self._orders(day)
        out += self._deliver(day)
        out += self._payments(day)
        yield from out

    # -- phases of a day ----------------------------------------------------------------------

    def _prepayments(self, day: date) -> list[Emitted]:
        """Guizhou 000 §五(三): the fund prepays 30 % of last year's average monthly
        disbursement in January (the profile's annual_payment_month)."""
        if day != self._workday_on_or_after(date(self.year, 1, 10)):
            return []
        out = []
        monthly = {"tertiary": 8_000_000, "secondary": 1_500_000, "military": 1_200_000,
                   "private": 400_000, "primary": 200_000}
        for inst in self.registry.institutions:
            if inst.tier not in monthly or not inst.designated:
                continue
            n = self._next(day, "prepay")
            amount = Decimal(round(monthly[inst.tier] * inst.size)) * Decimal("0.30")
            out.append(self.emit("vbp.fund.prepaid", {
                "prepayment_id": f"pre-{self.province}-{self.year}-{n:06d}",
                "institution_id": inst.institution_id, "amount": _money(amount),
                "paid_on": day.isoformat(),
            }, id=f"pre-{self.province}-{self.year}-{n:06d}", time=_time(day, 8, n), day=day))
        return out

    def _reports(self, day: date) -> list[Emitted]:
        out = []
        for product in self.registry.winners():
            for month in range(1, 12):
                if self.report_day.get((product.code, month)) == day:
                    out.append(self._report(product, month, day))
        return out

    def _report(self, product: Product, month: int, day: date) -> Emitted:
        code = product.code
        demand = self.demand.get(code, 1)
        supplied = self._supplied[(code, month)]
        rng = self.rng("report", code, month)
        stop = self.plan.stop
        if stop and stop["product"].code == code:
            produced = self._stop_produced.get(month, 0)
            inventory = self._stop_month_end[month]
            capacity = 0 if stop["stopped_on"].month <= month < stop["resumed_on"].month \
                else round(demand * 3)
        else:
            factor = rng.uniform(0.97, 1.08)
            if code == self.plan.falling_stock:
                factor = 0.55 if 4 <= month <= 7 else (1.6 if month >= 8 else factor)
            produced = round(supplied * factor)
            inventory = max(0, self._inventory[code] + produced - supplied)
            if code == self.plan.falling_stock and month >= 8:
                inventory = min(inventory, round(demand * 2.2))
            capacity = round(demand * 3)
        self._inventory[code] = inventory
        price = product.offer.price
        received = Decimal(supplied) * price * Decimal(str(round(rng.uniform(0.85, 1.0), 2)))
        month_s = f"{self.year}-{month:02d}"
        report_id = f"rpt-{product.manufacturer_id}-{month_s}-{code}"
        return self.emit("vbp.supply.monthly_reported", {
            "report_id": report_id, "manufacturer_id": product.manufacturer_id,
            "product_code": code, "month": month_s, "produced_quantity": produced,
            "supplied_quantity": supplied, "inventory_quantity": inventory,
            "reserve_quantity": round(demand * 0.5), "monthly_capacity": capacity,
            "payments_received": _money(received),
        }, id=report_id, time=_time(day, 9, self._next(day, "report")),
            source=f"/manufacturer/{product.manufacturer_id}", day=day)

    def _incidents(self, day: date) -> list[Emitted]:
        stop = self.plan.stop
        if not stop:
            return []
        product: Product = stop["product"]
        m = product.manufacturer_id
        source = f"/manufacturer/{m}"
        time = _time(day, 9, 1800 + self._next(day, "incident"))
        if day == stop["stopped_on"]:
            return [self.emit("vbp.supply.production_stopped", {
                "incident_id": stop["incident_id"], "manufacturer_id": m,
                "product_code": product.code, "stopped_on": day.isoformat(),
                "expected_resume_on": stop["expected_resume_on"].isoformat(),
                "reason": "原料药供应商停产，生产线停产检修 "
                          "(API supplier stopped; line under repair)",
            }, id=f"{stop['incident_id']}-stopped", time=time, source=source, day=day)]
        if day == stop["forecast_on"]:
            month = stop["resumed_on"].strftime("%Y-%m")
            demand = self.demand[product.code]
            return [self.emit("vbp.supply.shortfall_forecast", {
                "incident_id": stop["forecast_id"], "manufacturer_id": m,
                "product_code": product.code, "month": month,
                "expected_capacity": round(demand * 0.6), "committed_quantity": demand,
            }, id=f"{stop['forecast_id']}-{month}", time=time, source=source, day=day)]
        if day == stop["resumed_on"]:
            return [self.emit("vbp.supply.production_resumed", {
                "incident_id": stop["incident_id"], "manufacturer_id": m,
                "product_code": product.code, "resumed_on": day.isoformat(),
            }, id=f"{stop['incident_id']}-resumed", time=time, source=source, day=day)]
        return []

    def _orders(self, day: date) -> list[Emitted]:
        out = []
        for agreement, inst, product, quantity, why in self.orders_by_day.get(day, []):
            rng = self.rng("order", day, inst.institution_id, product.code, why)
            distributors = agreement.distributor_ids if agreement else (
                self.registry.manufacturer_distributors[product.manufacturer_id][:1])
            distributor = distributors[0] if len(distributors) == 1 or rng.random() < 0.8 \
                else distributors[1]
            placed_quantity = quantity
            cancel = self.config.on("cancellations") and rng.random() < 0.004
            if cancel:
                placed_quantity = quantity + product.generic.pack * rng.randrange(1, 4)
            order = self._order(day, inst, product, placed_quantity, distributor)
            out.append(order)
            order_id = order.event.data.order_id  # type: ignore[attr-defined]
            if cancel:  # a wrong quantity: cancelled and placed again
                n = self._next(day, "order")
                out.append(self.emit("vbp.order.cancelled", {
                    "order_id": order_id, "institution_id": inst.institution_id,
                }, id=f"cancel-{order_id}", time=_time(day, 10, n), day=day))
                order = self._order(day, inst, product, quantity, distributor)
                out.append(order)
                order_id = order.event.data.order_id  # type: ignore[attr-defined]
            self._schedule_delivery(day, order_id, inst, product, quantity, distributor, rng)
        return out

    def _order(self, day: date, inst: Institution, product: Product, quantity: int,
               distributor: str) -> Emitted:
        n = self._next(day, "order")
        order_id = f"ord-{day:%Y%m%d}-{n:05d}"
        return self.emit("vbp.order.placed", {
            "order_id": order_id, "institution_id": inst.institution_id,
            "product_code": product.code, "quantity": quantity,
            "unit_price": _money(product.offer.price), "distributor_id": distributor,
        }, id=order_id, time=_time(day, 10, n), day=day)

    def _schedule_delivery(self, day: date, order_id: str, inst: Institution, product: Product,
                           quantity: int, distributor: str, rng: random.Random) -> None:
        r = rng.random()
        lag = 0 if r < 0.05 else 1 if r < 0.65 else 2 if r < 0.95 else 3
        late = self.plan.late_city
        if self.config.on("late_delivery"):
            if rng.random() < 0.001:
                lag = rng.randrange(5, 8)
            if late and inst.city_code == late[0] and late[1] <= day <= late[2]:
                lag = rng.randrange(5, 8)
        self._deliveries[day + timedelta(days=lag)].append({
            "order_id": order_id, "institution": inst, "product": product, "quantity": quantity,
            "distributor": distributor, "ordered_on": day, "attempt": 1})

    def _deliver(self, day: date) -> list[Emitted]:
        out = []
        stop = self.plan.stop
        for d in self._deliveries.pop(day, []):
            product: Product = d["product"]
            inst: Institution = d["institution"]
            rng = self.rng("delivery", d["order_id"], d["attempt"])
            if stop and product.code == stop["product"].code and \
                    stop["stopped_on"] <= day < stop["resumed_on"]:
                if self._stop_stock < d["quantity"]:  # backorder until production resumes
                    again = stop["resumed_on"] + timedelta(days=rng.randrange(1, 4))
                    self._deliveries[again].append(d)
                    continue
                self._stop_stock -= d["quantity"]
            n = self._next(day, "delivery")
            delivery_id = f"dlv-{day:%Y%m%d}-{n:05d}"
            time = _time(day, 14, n)
            if self.config.on("rejected_delivery") and d["attempt"] == 1 and rng.random() < 0.004:
                out.append(self.emit("vbp.delivery.rejected", {
                    "delivery_id": delivery_id, "order_id": d["order_id"],
                    "institution_id": inst.institution_id, "reason": rng.choice(REJECT_REASONS),
                }, id=delivery_id, time=time, day=day))
                self._deliveries[day + ONE_DAY].append({**d, "attempt": 2})
                continue
            amount = Decimal(d["quantity"]) * product.offer.price
            out.append(self.emit("vbp.delivery.accepted", {
                "delivery_id": delivery_id, "order_id": d["order_id"],
                "institution_id": inst.institution_id, "product_code": product.code,
                "quantity": d["quantity"], "amount": _money(amount), "accepted_on": day.isoformat(),
            }, id=delivery_id, time=time, day=day))
            self._supplied[(product.code, day.month)] += d["quantity"]
            self._unpaid[inst.institution_id].append({
                "delivery_id": delivery_id, "payee": d["distributor"], "amount": amount,
                "accepted_on": day})
        self._track_stop_stock(day)
        return out

    def _track_stop_stock(self, day: date) -> None:
        """The stopped product's stock, day by day: production matches supply before the stop,
        is nil while stopped, and after resumption matches supply plus a rebuild of the stock
        at 0.8x demand a month, until the usual level is back."""
        stop = self.plan.stop
        if not stop:
            return
        code = stop["product"].code
        supplied_today = self._supplied[(code, day.month)] - self._stop_supplied_before
        self._stop_supplied_before = self._supplied[(code, day.month)]
        if (day + ONE_DAY).day == 1:
            self._stop_supplied_before = 0
        if day < stop["stopped_on"]:
            self._stop_produced[day.month] += supplied_today
        elif day >= stop["resumed_on"]:
            rebuild = min(max(0, self._stop_level - self._stop_stock),
                          round(self.demand[code] * 0.8 / 30))
            self._stop_stock += rebuild
            self._stop_produced[day.month] += supplied_today + rebuild
        if (day + ONE_DAY).day == 1:
            self._stop_month_end[day.month] = self._stop_stock

    def _payments(self, day: date) -> list[Emitted]:
        out = []
        holds = {h.institution_id: h for h in self.plan.holds}
        for inst in self.registry.institutions:
            inst_id = inst.institution_id
            unpaid = self._unpaid.get(inst_id)
            if not unpaid:
                continue
            hold = holds.get(inst_id)
            due: list[dict[str, Any]] = []
            if hold and day == hold.paid_on:
                due = [u for u in unpaid if u["accepted_on"] < day]
            elif (day - self.first).days % PAYMENT_CYCLE_DAYS == self.pay_offset[inst_id]:
                due = [u for u in unpaid if u["accepted_on"] < day and not (
                    hold and hold.start <= u["accepted_on"] <= hold.end and day < hold.paid_on)]
            if not due:
                continue
            paid = {u["delivery_id"] for u in due}
            self._unpaid[inst_id] = [u for u in unpaid if u["delivery_id"] not in paid]
            by_payee: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for u in due:
                by_payee[u["payee"]].append(u)
            for payee in sorted(by_payee):
                items = by_payee[payee]
                n = self._next(day, "payment")
                payment_id = f"pay-{day:%Y%m%d}-{n:05d}"
                out.append(self.emit("vbp.payment.made", {
                    "payment_id": payment_id, "institution_id": inst_id, "payee_id": payee,
                    "delivery_ids": [u["delivery_id"] for u in items],
                    "amount": _money(sum((u["amount"] for u in items), Decimal(0))),
                    "paid_on": day.isoformat(),
                }, id=payment_id, time=_time(day, 16, n), day=day))
        return out


def simulate(config: SimConfig) -> Iterator[Emitted]:
    """Every message of the simulated year, in sending order (see module docstring)."""
    return Scenario(config).events()
