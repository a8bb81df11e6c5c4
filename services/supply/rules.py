"""The supply rules of docs/contract.md ("Rules and actions") as pure functions.

Each rule is a function named after its contract rule. It takes plain values and policy
parameters (``schemas.policy.Clause``: ``.value`` None where the jurisdiction's document is
silent, and then the rule does not fire) and returns findings: warnings, escalations and
decisions carrying everything the service needs for ``vbp.warning.raised``,
``vbp.shortage.escalated`` and ``vbp.decision.issued``, including a deterministic id. No Kafka,
no I/O, no wall clock: time comes in as the tick's ``as_of``.

Ids (``finding_id``; parts percent-encode ``%`` and ``:``, an absent part reads ``-``):

* warnings:    ``rule:subject:period:detail``
  (``supply.low_inventory:M11000000328:2020-02:XC10AAA081A001010100328``)
* escalations: ``rule:product:region:level:episode``; the episode is the month evaluated
  (low inventory, unfilled orders) or the stop date (production stop)
* decisions:   ``rule:product:effective_from:action``
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from kernel.findings import BUREAU_REF, Param
from schemas.policy import ConsistencyGate
from services.supply.demand import Consumption, add_months, days_in_month, month_of

LOW_INVENTORY = "supply.low_inventory"
MISSING_MONTHLY_REPORT = "supply.missing_monthly_report"
SHORTFALL_FORECAST = "supply.shortfall_forecast"
PRODUCTION_STOP = "supply.production_stop"
UNFILLED_ORDERS = "supply.unfilled_orders"
CONSISTENCY_GATE = "supply.consistency_gate"
DISTRIBUTOR_LIMIT = "supply.distributor_limit"

Level = Literal["institution", "city", "province", "alliance", "national"]
LEVELS: tuple[Level, ...] = ("institution", "city", "province", "alliance", "national")
Severity = Literal["info", "warning", "critical"]
SubjectKind = Literal["institution", "manufacturer", "distributor", "product", "agreement"]
Action = Literal["suspend_trading", "restore_trading"]
Number = Decimal | int | float | str

CITY_MIN_INSTITUTIONS = 2
"""unfilled_orders reaches ``city`` once orders are overdue at this many institutions of a city."""
PROVINCE_MIN_CITIES = 2
"""unfilled_orders reaches ``province`` once orders are overdue in this many cities."""

MAX_ID = 128  # schemas.types.Identifier


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Alternative:
    """A product institutions can buy instead (contract: escalation ``alternatives``)."""

    province: str
    product_code: str
    manufacturer_id: str


@dataclass(frozen=True)
class Escalation:
    """A shortage reaching a level; the service emits it as ``vbp.shortage.escalated``."""

    id: str
    rule: str
    product_code: str
    generic_name: str
    region_code: str
    level: Level
    reason: str
    policy_ref: str
    evidence: Mapping[str, Any]
    alternatives: tuple[Alternative, ...] = ()


@dataclass(frozen=True)
class SupplyWarning:
    """A warning; the service emits it as ``vbp.warning.raised`` (``warning_id`` = ``id``)."""

    id: str
    rule: str
    severity: Severity
    subject_kind: SubjectKind
    subject_id: str
    period: str | None
    policy_ref: str
    metrics: Mapping[str, Any]
    message: str
    escalation: Escalation | None = None
    """The escalation this warning comes with, if any."""


@dataclass(frozen=True)
class Decision:
    """A decision; the service emits it as ``vbp.decision.issued`` (``decision_id`` = ``id``)."""

    id: str
    action: Action
    rule: str
    subject_kind: SubjectKind
    subject_id: str
    effective_from: date
    policy_ref: str
    metrics: Mapping[str, Any]
    caused_by: tuple[str, ...] = ()


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Listing:
    """A listed product (``vbp.product.listed``), the fields the supply rules read."""

    product_code: str
    generic_name: str
    manufacturer_id: str
    winning: bool
    consistency_passed: bool


@dataclass(frozen=True)
class AllianceWinner:
    """A partner province's winning product, from ``vbp.alliance.inbound``."""

    province: str
    generic_name: str
    product_code: str
    manufacturer_id: str


@dataclass(frozen=True)
class WinnerStock:
    """Another winning product of the same generic name supplying this province: its latest
    reported inventory and its own AMC here, in one comparable unit (the caller converts
    strengths with ``reference_units`` when they differ)."""

    product_code: str
    manufacturer_id: str
    inventory: int
    amc: Decimal


@dataclass(frozen=True)
class OpenOrder:
    """An order as unfilled_orders sees it (cancelled orders are left out by the caller)."""

    order_id: str
    institution_id: str
    city_code: str
    county_code: str
    product_code: str
    ordered_on: date
    delivered: bool = False


@dataclass(frozen=True)
class GateOutcome:
    """What consistency_gate found for one generic name."""

    holds: bool
    """The profile's passed-count condition is met."""
    passed: int
    """Passed manufacturers or products, as the profile counts."""
    decisions: tuple[Decision, ...] = ()
    warnings: tuple[SupplyWarning, ...] = ()


# --------------------------------------------------------------------------- helpers


def finding_id(*parts: str | None) -> str:
    """Deterministic, readable id: the parts joined by ``:``, each with ``%`` and ``:``
    percent-encoded (same encoding as ``kernel.findings.output_id``), None as ``-``. An id
    longer than the contract's 128 characters keeps its first 111 and ends ``~`` + 16 hex of
    its SHA-256, still stable across replays."""
    text = ":".join("-" if p is None else p.replace("%", "%25").replace(":", "%3A") for p in parts)
    if len(text) <= MAX_ID:
        return text
    return f"{text[:111]}~{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _ref(*params: Param[object]) -> str:
    for p in params:
        if p.ref:
            return p.ref
    return BUREAU_REF


def _dec(x: Number) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def _show(x: Decimal) -> str:
    return f"{x.quantize(Decimal('0.0001')):f}"


def _higher(a: Level, b: Level) -> Level:
    return a if LEVELS.index(a) >= LEVELS.index(b) else b


# --------------------------------------------------------------------------- rules


def low_inventory(
    product: Listing,
    month: str,
    inventory: int,
    reserve: int,
    consumption: Consumption,
    cover_months: Param[Number],
    critical_months: Param[Number],
    province_code: str,
) -> SupplyWarning | None:
    """``supply.low_inventory`` on a monthly report (002 §四(六), 000 §五(二)): inventory at
    the end of ``month`` covering fewer than ``cover_months`` of the province's AMC warns the
    manufacturer; under ``critical_months`` the warning is critical and escalates to the
    province.

    Cover = ``inventory_quantity`` / AMC, without the emergency reserve: the contract speaks of
    "reported inventory", and the reserve (应急储备) is what is left when ordinary stock runs
    out, so adding it would silence the warning until the reserve itself is being spent.
    Whether a manufacturer reports the reserve inside or beside its inventory, inventory alone
    is the right measure; the cover including the reserve is shown in the metrics. Bands are
    compared exactly (inventory < months x AMC). No demand (AMC 0) or unknown AMC: no finding.
    """
    low, critical = cover_months.value, critical_months.value
    amc = consumption.amc
    if (low is None and critical is None) or amc is None or amc <= 0:
        return None
    cover = Decimal(inventory) / amc
    metrics: dict[str, Any] = {
        "product_code": product.product_code,
        "inventory": inventory,
        "reserve": reserve,
        "cover_months": _show(cover),
        "cover_months_with_reserve": _show(Decimal(inventory + reserve) / amc),
        **consumption.metrics(),
    }
    if low is not None:
        metrics["low_below"] = str(low)
    if critical is not None:
        metrics["critical_below"] = str(critical)
    warning_id = finding_id(LOW_INVENTORY, product.manufacturer_id, month, product.product_code)
    shown = f"{product.product_code}: inventory covers {_show(cover)} months of demand, below"

    if critical is not None and inventory < _dec(critical) * amc:
        ref = _ref(critical_months)
        return SupplyWarning(
            id=warning_id, rule=LOW_INVENTORY, severity="critical",
            subject_kind="manufacturer", subject_id=product.manufacturer_id, period=month,
            policy_ref=ref, metrics=metrics, message=f"{shown} the critical {critical} months",
            escalation=Escalation(
                id=finding_id(
                    LOW_INVENTORY, product.product_code, province_code, "province", month
                ),
                rule=LOW_INVENTORY, product_code=product.product_code,
                generic_name=product.generic_name, region_code=province_code, level="province",
                reason=f"inventory covers {_show(cover)} months, under the critical {critical}",
                policy_ref=ref, evidence=metrics,
            ),
        )
    if low is not None and inventory < _dec(low) * amc:
        return SupplyWarning(
            id=warning_id, rule=LOW_INVENTORY, severity="warning",
            subject_kind="manufacturer", subject_id=product.manufacturer_id, period=month,
            policy_ref=_ref(cover_months), metrics=metrics, message=f"{shown} {low} months",
        )
    return None


def report_month_due(as_of: date, due_day: int) -> str:
    """The latest month whose report is overdue on tick ``as_of``: month M's report is due by
    ``due_day`` of M+1 (the month's last day when shorter) and overdue on the first tick after.
    With due day 10: on 2020-03-10 February is not yet late, so January is the latest due."""
    this = month_of(as_of)
    return add_months(this, -1 if as_of.day > min(due_day, days_in_month(this)) else -2)


def missing_monthly_report(
    manufacturer_id: str,
    product_code: str,
    reported_months: Collection[str],
    as_of: date,
    required: Param[bool],
    due_day: Param[int],
    first_month: str,
) -> SupplyWarning | None:
    """``supply.missing_monthly_report`` (002 §四(六) 中选企业每月...报送; elsewhere the bureau's
    setting): on tick ``as_of``, no report for ``report_month_due`` warns the manufacturer.

    Checked per product (each report covers one product), and only for the latest overdue
    month: earlier gaps were warned when they were the latest, and one id per month lets the
    alerts service drop the daily repeats. ``first_month`` is the first month a report is
    owed (the month supply under the agreement began); earlier months are never due.
    """
    if not required.value or due_day.value is None:
        return None
    month = report_month_due(as_of, due_day.value)
    if month < first_month or month in reported_months:
        return None
    return SupplyWarning(
        id=finding_id(MISSING_MONTHLY_REPORT, manufacturer_id, month, product_code),
        rule=MISSING_MONTHLY_REPORT, severity="warning",
        subject_kind="manufacturer", subject_id=manufacturer_id, period=month,
        policy_ref=_ref(required, due_day),
        metrics={"product_code": product_code, "month": month, "due_day": due_day.value,
                 "as_of": as_of.isoformat()},
        message=f"no monthly supply report for {product_code} for {month} "
        f"(due by day {due_day.value} of the next month)",
    )


def shortfall_forecast(
    manufacturer_id: str,
    product_code: str,
    month: str,
    expected_capacity: int,
    committed_quantity: int,
    advance_report: Param[bool],
    cite_also: Sequence[Param[object]] = (),
) -> SupplyWarning | None:
    """``supply.shortfall_forecast`` (002 §四(六) 产能不足...应提前报告): a forecast whose
    committed quantity exceeds the expected capacity warns, with the gap. It fires in every
    jurisdiction: a reported gap is a fact, not a threshold. ``advance_report`` (the profile's
    ``capacity_shortfall_advance_report``) only supplies the clause to cite; where it has none,
    the first of ``cite_also`` that has one (e.g. ``production_stop_min_level``: 000 §五(二)
    停产报告制度), else the bureau. A revised forecast for the same month keeps the id (one
    warning per manufacturer, product and month)."""
    gap = committed_quantity - expected_capacity
    if gap <= 0:
        return None
    return SupplyWarning(
        id=finding_id(SHORTFALL_FORECAST, manufacturer_id, month, product_code),
        rule=SHORTFALL_FORECAST, severity="warning",
        subject_kind="manufacturer", subject_id=manufacturer_id, period=month,
        policy_ref=_ref(advance_report, *cite_also),
        metrics={"product_code": product_code, "expected_capacity": expected_capacity,
                 "committed_quantity": committed_quantity, "gap": gap},
        message=f"{product_code} in {month}: committed {committed_quantity} exceeds expected "
        f"capacity {expected_capacity} by {gap}",
    )


def production_stop(
    product: Listing,
    incident_id: str,
    stopped_on: date,
    province_code: str,
    min_level: Param[Level],
    cover_months: Param[Number],
    demand_amc: Decimal | None,
    other_winners: Sequence[WinnerStock],
    alliance_winners: Iterable[AllianceWinner],
    expected_resume_on: date | None = None,
) -> Escalation | None:
    """``supply.production_stop`` (000 §五(二), 001 §二(六), 003 §三(二)2): a winning product's
    stop escalates at once to at least ``min_level`` (never below ``province``; Xi'an:
    ``national``). A non-winning product's stop is not this rule's concern.

    Alternatives (002 §四(六) 优先采购其他省份中选药品): the province's other winners of the
    generic name first, then partner provinces' winners of it, each sorted by province and code.

    The province's own supply covers the demand when the other winners' inventory, after taking
    over the stopped product's demand, still lasts ``cover_months`` (the profile's
    low-inventory cover, so taking over does not push them into low_inventory)::

        sum(inventory) >= cover_months x (sum(their AMC) + demand_amc)

    When it does not, the level rises to ``alliance`` if a partner province has a winner of the
    generic name, else to ``national`` (nobody nearer can supply). With the cover or the demand
    unknown, the rule cannot tell and keeps the base level.
    """
    if not product.winning:
        return None
    level = _higher("province", min_level.value or "province")
    others = [w for w in other_winners if w.product_code != product.product_code]
    alternatives = alternatives_for(product.product_code, product.generic_name, province_code,
                                    others, alliance_winners)
    evidence: dict[str, Any] = {
        "incident_id": incident_id,
        "manufacturer_id": product.manufacturer_id,
        "stopped_on": stopped_on.isoformat(),
        "expected_resume_on": expected_resume_on and expected_resume_on.isoformat(),
        "base_level": level,
    }
    covered, workings = own_supply_covers(others, demand_amc, cover_months)
    evidence |= workings
    if covered is False:
        partners = any(a.province != province_code for a in alternatives)
        level = _higher(level, "alliance" if partners else "national")
    evidence["own_supply_covers"] = "unknown" if covered is None else covered
    reason = f"winning product's production stopped (incident {incident_id})"
    if covered is False:
        reason += "; the province's other winners cannot cover its demand"
    return Escalation(
        id=finding_id(PRODUCTION_STOP, product.product_code, province_code, level,
                      stopped_on.isoformat()),
        rule=PRODUCTION_STOP, product_code=product.product_code,
        generic_name=product.generic_name, region_code=province_code, level=level,
        reason=reason, policy_ref=_ref(min_level), evidence=evidence, alternatives=alternatives,
    )


def alternatives_for(
    product_code: str,
    generic_name: str,
    province_code: str,
    other_winners: Sequence[WinnerStock],
    alliance_winners: Iterable[AllianceWinner],
) -> tuple[Alternative, ...]:
    """Where institutions can turn (002 §四(六) 优先采购其他省份中选药品): the province's other
    winners of the generic name first, then partner provinces' winners of it, each sorted by
    province and code; never the short product itself."""
    own = sorted({w.product_code: w for w in other_winners
                  if w.product_code != product_code}.values(), key=lambda w: w.product_code)
    partners = sorted(
        {
            Alternative(a.province, a.product_code, a.manufacturer_id)
            for a in alliance_winners
            if a.generic_name == generic_name
            and a.province != province_code
            and a.product_code != product_code
        },
        key=lambda a: (a.province, a.product_code),
    )
    return tuple(Alternative(province_code, w.product_code, w.manufacturer_id)
                 for w in own) + tuple(partners)


def own_supply_covers(
    other_winners: Sequence[WinnerStock],
    demand_amc: Decimal | None,
    cover_months: Param[Number],
) -> tuple[bool | None, dict[str, Any]]:
    """Whether the province's other winners can take over a short product's demand and still
    hold ``cover_months`` (the low-inventory cover, so taking over does not push them into
    low_inventory)::

        sum(inventory) >= cover_months x (sum(their AMC) + demand_amc)

    None when the cover or the demand is unknown; with the workings for the evidence."""
    if cover_months.value is None or demand_amc is None:
        return None, {}
    inventory = sum(w.inventory for w in other_winners)
    need = _dec(cover_months.value) * (sum((w.amc for w in other_winners), Decimal(0)) + demand_amc)
    return inventory >= need, {
        "other_winners_inventory": inventory, "needed_for_cover": _show(need),
        "cover_months": str(cover_months.value), "demand_amc": _show(demand_amc)}


def beyond_the_province(
    escalation: Escalation,
    episode: str,
    other_winners: Sequence[WinnerStock],
    demand_amc: Decimal | None,
    cover_months: Param[Number],
    alliance_winners: Iterable[AllianceWinner],
) -> Escalation:
    """A shortage at ``province`` level goes on to the alliance, or the nation when no partner
    has a winner of the generic name, once the province's own supply cannot cover the demand
    (002 §四(五)-(六), 003 §三(二)2); every escalation lists the alternatives known. Below the
    province only the alternatives are added. ``episode`` is the last part of the id."""
    others = [w for w in other_winners if w.product_code != escalation.product_code]
    alternatives = alternatives_for(escalation.product_code, escalation.generic_name,
                                    escalation.region_code, others, alliance_winners)
    if escalation.level != "province":
        return replace(escalation, alternatives=alternatives)
    covered, workings = own_supply_covers(others, demand_amc, cover_months)
    evidence = {**escalation.evidence, **workings,
                "own_supply_covers": "unknown" if covered is None else covered}
    level: Level = escalation.level
    reason = escalation.reason
    if covered is False:
        partners = any(a.province != escalation.region_code for a in alternatives)
        level = "alliance" if partners else "national"
        reason += "; the province's other winners cannot cover its demand"
    return replace(
        escalation, level=level, reason=reason, evidence=evidence, alternatives=alternatives,
        id=finding_id(escalation.rule, escalation.product_code, escalation.region_code, level,
                      episode))


def unfilled_orders(
    orders: Iterable[OpenOrder],
    as_of: date,
    window_days: Param[int],
    province_code: str,
    generic_names: Mapping[str, str],
    city_min_institutions: int = CITY_MIN_INSTITUTIONS,
    province_min_cities: int = PROVINCE_MIN_CITIES,
) -> list[Escalation]:
    """``supply.unfilled_orders`` (002 §四(五), 003 §三(二)2): one escalation per product with
    orders still undelivered on tick ``as_of`` more than ``window_days`` calendar days after
    the order day (ordered on D, window 3: overdue from tick D+4, "the first tick after"), at
    the level the shortage has reached:

    * ``province``: overdue in ``province_min_cities`` (2) or more cities, beyond what any one
      city can coordinate (002 §四(五) 本辖区无法解决的...报省医保局); region = the province;
    * ``city``: ``city_min_institutions`` (2) or more institutions of one city; region = the
      city with most (ties: lowest code);
    * ``institution``: otherwise; region = the county of the oldest overdue order.

    The id carries the month of ``as_of``, so a persisting shortage re-escalates at most
    monthly per level and region; the service emits only when the level rises.
    """
    window = window_days.value
    if window is None:
        return []
    overdue: dict[str, list[OpenOrder]] = defaultdict(list)
    for o in orders:
        if not o.delivered and (as_of - o.ordered_on).days > window:
            overdue[o.product_code].append(o)
    found = []
    for code in sorted(overdue):
        late = sorted(overdue[code], key=lambda o: (o.ordered_on, o.order_id))
        if code not in generic_names:
            raise ValueError(f"no generic name for product {code}")
        by_city: dict[str, set[str]] = defaultdict(set)
        for o in late:
            by_city[o.city_code].add(o.institution_id)
        worst_city = min(by_city, key=lambda c: (-len(by_city[c]), c))
        level: Level
        if len(by_city) >= province_min_cities:
            level, region = "province", province_code
        elif len(by_city[worst_city]) >= city_min_institutions:
            level, region = "city", worst_city
        else:
            level, region = "institution", late[0].county_code
        institutions = sorted({o.institution_id for o in late})
        evidence = {
            "overdue_orders": len(late),
            "institutions": institutions,
            "institution_count": len(institutions),
            "cities": {c: sorted(i) for c, i in sorted(by_city.items())},
            "city_count": len(by_city),
            "counties": sorted({o.county_code for o in late}),
            "oldest_ordered_on": late[0].ordered_on.isoformat(),
            "window_days": window,
            "as_of": as_of.isoformat(),
        }
        found.append(Escalation(
            id=finding_id(UNFILLED_ORDERS, code, region, level, month_of(as_of)),
            rule=UNFILLED_ORDERS, product_code=code, generic_name=generic_names[code],
            region_code=region, level=level,
            reason=f"{len(late)} orders at {len(institutions)} institutions in {len(by_city)} "
            f"cities undelivered after {window} days",
            policy_ref=_ref(window_days), evidence=evidence,
        ))
    return found


def consistency_gate(
    generic_name: str,
    listings: Iterable[Listing],
    suspended: Collection[str],
    gate: Param[ConsistencyGate],
    as_of: date,
    supply_assured: bool,
) -> GateOutcome:
    """``supply.consistency_gate`` for one generic name. Guizhou 000 §五(一): 通过一致性评价的
    生产企业达到3家以上 (>= 3 manufacturers), 在确保供应的情况下 suspend non-passed generics'
    platform trading, restore once they pass. Shanxi 004 §四(一)1: 超过3个 (> 3 passed
    products), and the consequence is exclusion from VBP selection, not a trading suspension:
    that yields an ``info`` warning per non-passed product and no decision.

    ``suspended``: product codes this rule has suspended and not restored (service state).
    Decisions take effect on the next day (``as_of`` + 1), like ``quota.catch_up``. Restored:
    a suspended product that has passed (待其通过一致性评价后，恢复), and every suspended product
    once the gate's premise lapses (too few passed, or supply no longer assured where the
    profile requires it), since the suspension only ever stood on those conditions.
    Winning products are never suspended: they are under contract. The count treats every
    ``consistency_passed`` listing alike; originators must be listed as passed (they are the
    reference, 000 §五(五)) or they would be suspended as non-passed generics.
    """
    rule = gate.value
    if rule is None:
        return GateOutcome(holds=False, passed=0)
    mine = sorted((x for x in listings if x.generic_name == generic_name),
                  key=lambda x: x.product_code)
    passed_listings = [x for x in mine if x.consistency_passed]
    counted = sorted(
        {x.manufacturer_id for x in passed_listings} if rule.counts == "manufacturers"
        else {x.product_code for x in passed_listings}
    )
    holds = rule.triggered(len(counted))
    active = holds and (supply_assured or not rule.requires_supply_assured)
    ref = _ref(gate)
    effective = as_of + timedelta(days=1)
    metrics: dict[str, Any] = {
        "generic_name": generic_name,
        "counts": rule.counts,
        "passed": len(counted),
        "passed_ids": counted,
        "condition": f"{rule.comparison} {rule.passed_count}",
        "supply_assured": supply_assured,
    }

    def decide(action: Action, code: str, why: str) -> Decision:
        return Decision(
            id=finding_id(CONSISTENCY_GATE, code, effective.isoformat(), action),
            action=action, rule=CONSISTENCY_GATE, subject_kind="product", subject_id=code,
            effective_from=effective, policy_ref=ref, metrics={**metrics, "because": why},
        )

    decisions: list[Decision] = []
    warnings: list[SupplyWarning] = []
    for x in mine:
        if x.product_code in suspended:
            if x.consistency_passed:
                decisions.append(decide("restore_trading", x.product_code, "passed"))
            elif not holds:
                decisions.append(decide("restore_trading", x.product_code, "gate_no_longer_holds"))
            elif not active:
                decisions.append(decide("restore_trading", x.product_code, "supply_not_assured"))
        elif active and not x.consistency_passed and not x.winning:
            if rule.action == "suspend_platform_trading":
                decisions.append(decide("suspend_trading", x.product_code, "not_passed"))
            else:
                warnings.append(SupplyWarning(
                    id=finding_id(CONSISTENCY_GATE, x.product_code, str(as_of.year), rule.action),
                    rule=CONSISTENCY_GATE, severity="info", subject_kind="product",
                    subject_id=x.product_code, period=str(as_of.year), policy_ref=ref,
                    metrics=metrics,
                    message=f"{x.product_code} has not passed consistency evaluation while "
                    f"{len(counted)} {rule.counts.replace('_', ' ')} of {generic_name} have: "
                    "exclude it from VBP selection",
                ))
    return GateOutcome(holds, len(counted), tuple(decisions), tuple(warnings))


def distributor_limit(
    subject_kind: Literal["agreement", "manufacturer"],
    subject_id: str,
    distributor_ids: Iterable[str],
    limit: Param[int],
    period: str | None = None,
    product_code: str | None = None,
) -> SupplyWarning | None:
    """``supply.distributor_limit`` (Yunnan 002 §四(六) 不超过3家（含3家）): an agreement, or a
    manufacturer across its agreements for a winning product, naming more distinct distributors
    than ``limit`` warns. Silent profiles (Guizhou, Chongqing, Xi'an, Shanxi) fire nothing.
    ``period``: e.g. the agreement's cycle year, so a later cycle warns afresh.
    ``product_code``: the winning product a manufacturer's distributors were counted for (its
    winners are counted one by one); it takes the id's last part, so each warns on its own."""
    if limit.value is None:
        return None
    named = sorted(set(distributor_ids))
    if len(named) <= limit.value:
        return None
    return SupplyWarning(
        id=finding_id(DISTRIBUTOR_LIMIT, subject_id, period, product_code or "warning"),
        rule=DISTRIBUTOR_LIMIT, severity="warning", subject_kind=subject_kind,
        subject_id=subject_id, period=period, policy_ref=_ref(limit),
        metrics={"distributors": named, "distributor_count": len(named), "limit": limit.value,
                 **({"product_code": product_code} if product_code else {})},
        message=f"{subject_kind} {subject_id} names {len(named)} distributors, "
        f"more than the {limit.value} allowed",
    )
