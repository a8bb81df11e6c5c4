"""What the supply service knows, in changelog-backed tables, and the questions the rules ask.

Tables (each input event changes one record, and the record keeps the ids of the events it
absorbed, as in kernel/ledger.py):
- ``products``, ``institutions``, ``agreements``: the reference topics;
- ``partner-products``: partners' winning products from vbp.alliance.inbound;
- ``orders``: one record per order, in quota's ledger format;
- ``reports``: one record per manufacturer, product and month;
- ``incidents``: one record per incident: a stop (and its resumption) or a shortfall forecast.
Ordered quantities per product and month, and the open orders, are derived in memory from the
order records and rebuilt after recovery.

Reports and incidents keep the broker timestamp of the event that made them (``stamp``; a
resumption: ``resumed_stamp``) and the version a correction replaced (``earlier``), order
records the stamp of each delivery and of a cancellation. A tick's rules see only what was
stamped at or before the tick (``frozen(horizon)``). The core handles inputs in timestamp order
(runtime/timeline.py), so this holds already where producers stamp in order; the horizon keeps
it where one did not (a report sent late with an earlier timestamp is still judged by then).

One task: product-wide questions (AMC across institutions, stock across manufacturers) read
every record, so the service runs all of its state in one task (LoopService.one_task), one
worker at a time; spreading it needs the inputs re-keyed by product_code first.
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from kernel import ledger
from runtime.loop import Rejected
from runtime.shell import LoopService
from schemas.envelope import CloudEvent
from services.supply import rules
from services.supply.demand import (
    DEFAULT_LOOKBACK_MONTHS,
    Consumption,
    add_months,
    average_monthly_consumption,
    days_out_of_stock,
    month_of,
)


def region_of(institution_id: str) -> tuple[str, str]:
    """(city, county) codes from the institution id (H/P + 6-digit area code + 5 digits), for
    institutions the reference topic has not registered."""
    county = institution_id[1:7]
    return county[:4] + "00", county


class Demand:
    """Ordered quantities per (product, month), and the orders that may still be open at a
    tick: the open ones, and those closed after the last tick settled (`settle`)."""

    def __init__(self) -> None:
        self.monthly: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.open: dict[str, ledger.OrderRecord] = {}
        self.settled: int | None = None  # the last tick's horizon; None: none since rebuilt

    def clear(self) -> None:
        self.monthly.clear()
        self.open.clear()
        self.settled = None

    def replace(self, order_id: str, old: ledger.OrderRecord | None,
                new: ledger.OrderRecord) -> None:
        if old is not None:
            self._add(old, -1)
        self._add(new, +1)
        if new["day"] is not None and (self.settled is None or open_at(new, self.settled)):
            self.open[order_id] = new
        else:
            self.open.pop(order_id, None)

    def settle(self, horizon: int) -> None:
        """Ticks come in order: an order closed by `horizon` is closed for every later one."""
        if self.settled is not None and horizon <= self.settled:
            return
        self.settled = horizon
        for order_id in [i for i, record in self.open.items() if not open_at(record, horizon)]:
            del self.open[order_id]

    def _add(self, record: ledger.OrderRecord, sign: int) -> None:
        if record["product_code"] and record["day"] and not record["cancelled"]:
            self.monthly[record["product_code"]][record["day"][:7]] += sign * record["quantity"]

    def by_month(self, product_code: str) -> dict[str, int]:
        return dict(self.monthly.get(product_code, {}))


def stamped_by(stamp: int | None, horizon: int | None) -> bool:
    """Whether a change stamped `stamp` had happened at broker time `horizon` (None: now;
    records written before stamps were kept count as changed)."""
    return horizon is None or stamp is None or stamp <= horizon


def open_at(record: ledger.OrderRecord, horizon: int | None) -> bool:
    """Placed, not cancelled, and not yet delivered in full (accepted deliveries), as of broker
    time `horizon` (None: now)."""
    if record["day"] is None or record["product_code"] is None:
        return False
    if record["cancelled"] and stamped_by(record.get("cancelled_stamp"), horizon):
        return False
    delivered = sum(d["quantity"] for d in record["deliveries"].values()
                    if not d.get("rejected") and stamped_by(d.get("stamp"), horizon))
    return delivered < record["quantity"]


class SupplyState:
    def __init__(self, service: LoopService) -> None:
        self.region = service.policy.region_code
        self.products = service.table("products")
        self.institutions = service.table("institutions")
        self.agreements = service.table("agreements")
        self.partners = service.table("partner-products")
        self.orders = service.table("orders")
        self.reports = service.table("reports")
        self.incidents = service.table("incidents")
        self.demand = Demand()
        service.on_recover(self._rebuild_demand)
        self._memo: dict[Any, Any] | None = None
        self._horizon: int | None = None  # see frozen()

    @contextlib.contextmanager
    def frozen(self, horizon: int | None = None) -> Iterator[None]:
        """Within this scope the inputs do not change (one tick's evaluation, one HTTP read):
        the product-wide answers are computed once and reused. `horizon`: the tick's broker
        timestamp; what was stamped after it (module docstring) is not seen yet. A scope opened
        inside another (a read between two of a tick's emits) uses the outer one's answers."""
        if self._memo is not None:
            yield
            return
        self._memo = {}
        self._horizon = horizon
        if horizon is not None:
            self.demand.settle(horizon)
        try:
            yield
        finally:
            self._memo = None
            self._horizon = None

    def _seen(self, stamp: int | None) -> bool:
        return stamped_by(stamp, self._horizon)

    def _cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if self._memo is None:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    async def _rebuild_demand(self) -> None:
        self.demand.clear()
        for order_id, record in self.orders.items():
            self.demand.replace(order_id, None, record)

    # -- inputs -------------------------------------------------------------------------------

    async def on_reference(self, event: CloudEvent) -> None:
        data = event.data.model_dump(mode="json")
        if event.type == "vbp.product.listed":
            listed_on = event.time.date().isoformat()
            self.products[data["product_code"]] = {**data, "listed_on": listed_on}
        elif event.type == "vbp.institution.registered":
            self.institutions[data["institution_id"]] = data
        else:
            self.agreements[data["agreement_id"]] = data

    async def on_partner(self, event: CloudEvent) -> None:
        """A partner's winning product (002 §四(六)); other alliance events are not ours."""
        if event.type != "vbp.product.listed":
            return
        partner = event.province
        if event.source != f"/alliance/{partner}" or partner == self.region:
            raise Rejected(f"alliance product from source {event.source!r} with province "
                           f"{partner!r}: expected /alliance/<partner province>")
        data = event.data.model_dump(mode="json")
        self.partners[f"{partner}:{data['product_code']}"] = {**data, "province": partner}

    async def on_trade(self, event: CloudEvent, stamp: int) -> None:
        """`stamp`: the event's broker timestamp, kept with a cancellation or delivery."""
        data = event.data
        old = self.orders.get(data.order_id)
        record = old or ledger.new_record(data.institution_id)
        if event.type == "vbp.order.placed":
            new = ledger.placed(record, data.product_code, event.time.date(), data.quantity)
        elif event.type == "vbp.order.cancelled":
            new = {**ledger.cancelled(record), "cancelled_stamp": stamp}
        else:
            if event.type == "vbp.delivery.accepted":
                new = ledger.delivered(record, data.delivery_id, data.product_code,
                                       data.quantity, data.accepted_on)
            else:
                new = ledger.rejected(record, data.delivery_id)
            deliveries = new["deliveries"]
            new["deliveries"] = {**deliveries,
                                 data.delivery_id: {**deliveries[data.delivery_id], "stamp": stamp}}
        if new != old:
            self.orders[data.order_id] = new
            self.demand.replace(data.order_id, old, new)

    async def on_supply(self, event: CloudEvent, stamp: int) -> None:
        """`stamp`: the event's broker timestamp (LoopService.input_time)."""
        data = event.data.model_dump(mode="json")
        manufacturer = data["manufacturer_id"]
        source = event.source
        if source.startswith("/manufacturer/") and source != f"/manufacturer/{manufacturer}":
            raise Rejected(f"{event.source} may not report for {manufacturer}")
        received = event.time.isoformat()
        if event.type == "vbp.supply.monthly_reported":
            key = f"{manufacturer}:{data['product_code']}:{data['month']}"
            old = self.reports.get(key)
            # A second report for the same month is a correction: it replaces the first.
            self.reports[key] = {**data, "event_id": event.id, "received": received,
                                 "stamp": stamp, "earlier": old,
                                 "event_ids": [*(old or {}).get("event_ids", []), event.id]}
            return
        key = f"{manufacturer}:{data['incident_id']}"
        old = self.incidents.get(key)
        kind = {"vbp.supply.production_stopped": "stop", "vbp.supply.production_resumed": "stop",
                "vbp.supply.shortfall_forecast": "forecast"}[event.type]
        if old is not None and old["kind"] != kind:
            raise Rejected(f"incident {data['incident_id']} is already a {old['kind']}")
        if event.type == "vbp.supply.production_resumed":
            if old is None or old.get("stopped_on") is None:
                raise Rejected(f"no production stop reported under incident {data['incident_id']}")
            if (old["product_code"] != data["product_code"]
                    or data["resumed_on"] < old["stopped_on"]):
                raise Rejected("resumption does not match the stop's product or comes before it")
            new = {**old, "resumed_on": data["resumed_on"], "resumed_stamp": stamp}
        else:
            base = old or {"kind": kind, "resumed_on": None}
            new = {**base, **data, "received": received, "stamp": stamp, "earlier": old}
        self.incidents[key] = {**new, "event_ids": [*(old or {}).get("event_ids", []), event.id]}

    # -- questions ----------------------------------------------------------------------------

    def listing(self, product_code: str) -> rules.Listing | None:
        p = self.products.get(product_code)
        if p is None:
            return None
        return rules.Listing(p["product_code"], p["generic_name"], p["manufacturer_id"],
                             p["winning"], p["consistency_passed"])

    def listings(self) -> list[rules.Listing]:
        return self._cached("listings", lambda: sorted(
            (l for l in (self.listing(c) for c in list(self.products.keys())) if l),
            key=lambda l: l.product_code))

    def named(self, generic_name: str) -> list[rules.Listing]:
        """The listings of a generic name."""
        def index() -> dict[str, list[rules.Listing]]:
            found: dict[str, list[rules.Listing]] = defaultdict(list)
            for listing in self.listings():
                found[listing.generic_name].append(listing)
            return found
        return self._cached("named", index).get(generic_name, [])

    def reported_months(self, manufacturer_id: str, product_code: str) -> set[str]:
        def index() -> dict[tuple[str, str], set[str]]:
            found: dict[tuple[str, str], set[str]] = defaultdict(set)
            for r in self._reports():
                found[(r["manufacturer_id"], r["product_code"])].add(r["month"])
            return found
        return self._cached("months", index).get((manufacturer_id, product_code), set())

    def owner_of(self, product_code: str) -> str | None:
        p = self.products.get(product_code)
        return None if p is None else p["manufacturer_id"]

    def _as_seen(self, record: dict[str, Any] | None) -> dict[str, Any] | None:
        """The version of a report or incident the horizon sees: the latest stamped within it
        (a correction or update replaces a record and keeps the one before as ``earlier``)."""
        while record is not None and not self._seen(record.get("stamp")):
            record = record.get("earlier")
        return record

    def _reports(self) -> list[dict[str, Any]]:
        return [r for r in map(self._as_seen, self.reports.values()) if r is not None]

    def _incidents(self, kind: str) -> list[dict[str, Any]]:
        """The incidents of `kind` within the horizon; a resumption beyond it not yet."""
        seen = [r for r in map(self._as_seen, self.incidents.values())
                if r is not None and r["kind"] == kind]
        return [r if self._seen(r.get("resumed_stamp")) else {**r, "resumed_on": None}
                for r in seen]

    def forecasts(self) -> list[dict[str, Any]]:
        return self._incidents("forecast")

    def stops(self, product_code: str | None = None) -> list[dict[str, Any]]:
        every = self._cached("stops", lambda: sorted(
            (r for r in self._incidents("stop") if "stopped_on" in r),
            key=lambda r: (r["stopped_on"], r["incident_id"])))
        return [r for r in every if product_code is None or r["product_code"] == product_code]

    def open_stops(self, as_of: date) -> list[dict[str, Any]]:
        day = as_of.isoformat()
        return [r for r in self.stops() if r["resumed_on"] is None or r["resumed_on"] > day]

    def first_month(self, product_code: str) -> str | None:
        """The first month the product could be ordered under an agreement."""
        def index() -> dict[str, str]:
            firsts: dict[str, str] = {}
            for a in self.agreements.values():
                code, month = a["product_code"], a["period_start"][:7]
                firsts[code] = min(month, firsts.get(code, month))
            return firsts
        return self._cached("first_months", index).get(product_code)

    def consumption(self, product_code: str, through: str) -> Consumption:
        """The province's AMC of the product (demand.py), adjusted for its production stops."""
        return self._cached(("amc", product_code, through),
                            lambda: self._consumption(product_code, through))

    def _consumption(self, product_code: str, through: str) -> Consumption:
        intervals = [(date.fromisoformat(r["stopped_on"]),
                      date.fromisoformat(r["resumed_on"]) if r["resumed_on"] else None)
                     for r in self.stops(product_code)]
        months = [add_months(through, -k) for k in range(DEFAULT_LOOKBACK_MONTHS)]
        return average_monthly_consumption(
            self.demand.by_month(product_code), through,
            days_out_of_stock_by_month={m: days_out_of_stock(intervals, m) for m in months},
            first_month=self.first_month(product_code))

    def reports_of(self, manufacturer_id: str | None = None,
                   product_code: str | None = None) -> list[dict[str, Any]]:
        return sorted((r for r in self._reports()
                       if (manufacturer_id is None or r["manufacturer_id"] == manufacturer_id)
                       and (product_code is None or r["product_code"] == product_code)),
                      key=lambda r: (r["month"], r["product_code"]))

    def latest_report(self, product_code: str) -> dict[str, Any] | None:
        def index() -> dict[str, dict[str, Any]]:
            latest: dict[str, dict[str, Any]] = {}
            for r in self._reports():
                known = latest.get(r["product_code"])
                if known is None or (r["month"], r["received"]) > (known["month"],
                                                                    known["received"]):
                    latest[r["product_code"]] = r
            return latest
        return self._cached("latest", index).get(product_code)

    def reference_units(self, product_code: str) -> Decimal:
        p = self.products.get(product_code)
        return Decimal(p["reference_units"]) if p else Decimal(1)

    def other_winners(self, short: rules.Listing, through: str,
                      as_of: date) -> list[rules.WinnerStock]:
        """The province's other winners of `short`'s generic name that are not stopped, with
        their latest reported inventory (0 when none reported) and AMC, in the short product's
        units (converted through reference_units)."""
        stopped = {r["product_code"] for r in self.open_stops(as_of)}
        unit = self.reference_units(short.product_code)
        found = []
        for other in self.named(short.generic_name):
            if (not other.winning
                    or other.product_code in (short.product_code, *stopped)):
                continue
            ratio = self.reference_units(other.product_code) / unit
            latest = self.latest_report(other.product_code)
            inventory = latest["inventory_quantity"] if latest else 0
            amc = self.consumption(other.product_code, through).amc or Decimal(0)
            found.append(rules.WinnerStock(other.product_code, other.manufacturer_id,
                                           int(Decimal(inventory) * ratio), amc * ratio))
        return found

    def alliance_winners(self) -> list[rules.AllianceWinner]:
        return [rules.AllianceWinner(p["province"], p["generic_name"], p["product_code"],
                                     p["manufacturer_id"])
                for p in self.partners.values() if p["winning"]]

    def open_orders(self) -> list[rules.OpenOrder]:
        """Undelivered orders of winning products, with their institution's city and county."""
        found = []
        for order_id, record in self.demand.open.items():
            if not open_at(record, self._horizon):
                continue
            listing = self.listing(record["product_code"])
            if listing is None or not listing.winning:
                continue
            institution = self.institutions.get(record["institution_id"])
            city, county = ((institution["city_code"], institution["county_code"]) if institution
                            else region_of(record["institution_id"]))
            found.append(rules.OpenOrder(order_id, record["institution_id"], city, county,
                                         record["product_code"],
                                         date.fromisoformat(record["day"])))
        return found

    @staticmethod
    def month_before(as_of: date) -> str:
        """The last whole month that has ended on tick `as_of`."""
        return add_months(month_of(as_of), -1)
