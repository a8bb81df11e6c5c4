"""Read API of the quota service: progress per institution and product, the province's ranking,
and the monthly disclosure page per city that 000 §五(四) asks the bureau to publish."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING, Any

from kernel.periods import add_months, evaluated_quarters, month_of, pace, quarters_of
from runtime.shell import LoopService, Reply
from runtime.topics import partition_of
from services.quota import rules

if TYPE_CHECKING:
    from services.quota.app import Quota


def agreement_view(quota: Quota, agreement: dict[str, Any], as_of: date | None) -> dict[str, Any]:
    quarters = quarters_of(agreement)
    totals = quota.quarter_totals(agreement, quarters)
    period = [
        quota.progress(agreement, quarters, totals, q,
                       as_of or q.end + timedelta(days=1)).model_dump(mode="json")
        for q in quarters
        if as_of is None or q.start < as_of
    ]
    start, end = quarters[0].start, quarters[-1].end
    evaluated = evaluated_quarters(quarters, as_of, quota.policy.grace_days.value) if as_of else []
    cumulative, _ = quota.counted(
        agreement, start, (as_of or end + timedelta(days=1)) - timedelta(days=1)
    )
    year_target = agreement["agreed_quantity"]
    return {
        "agreement_id": agreement["agreement_id"],
        "product_code": agreement["product_code"],
        "months": month_totals(quota, agreement, as_of),
        "generic_name": agreement["generic_name"],
        "agreed_quantity": year_target,
        "cumulative_quantity": cumulative,
        "year_completion_rate": str(rules.completion_rate(max(cumulative, 0), year_target)),
        "pace": str(pace(start, end, as_of)) if as_of else None,
        "evaluated_target": sum(q.target for q in evaluated),
        "quarters": period,
        "evaluations": (quota.evaluations.get(agreement["agreement_id"]) or {}).get("quarters", {}),
    }


def month_totals(
    quota: Quota, agreement: dict[str, Any], as_of: date | None
) -> list[dict[str, Any]]:
    """Totals per agreement-relative month (month n starts n months after period_start)."""
    start, end = (
        date.fromisoformat(agreement["period_start"]),
        date.fromisoformat(agreement["period_end"]),
    )
    months, n = [], 0
    while (first := add_months(start, n)) <= end and (as_of is None or first < as_of):
        last = min(add_months(start, n + 1) - timedelta(days=1), end)
        sums = quota.totals.sum(agreement["institution_id"], agreement["product_code"], first, last)
        months.append(
            {"month": month_of(first), "start": first.isoformat(), "end": last.isoformat(), **sums}
        )
        n += 1
    return months


def institution_view(quota: Quota, institution_id: str) -> dict[str, Any]:
    agreements = [a for a in quota.agreements.values() if a["institution_id"] == institution_id]
    state = quota.institution_state.get(institution_id) or {"suspension": None}
    # the tick its own partition has applied: another partition may be a tick ahead of it
    as_of = quota.service.tick_of(partition_of(institution_id))
    return {
        "institution_id": institution_id,
        "institution": quota.institutions.get(institution_id),
        "as_of": as_of.isoformat() if as_of else None,
        "suspension": state["suspension"],
        "agreements": [
            agreement_view(quota, a, as_of)
            for a in sorted(agreements, key=lambda a: a["agreement_id"])
        ],
        "non_winning_products": sorted(
            p
            for p in quota.totals.products_of(institution_id)
            if not (quota.products.get(p) or {}).get("winning", False)
        ),
    }


def ranking(quota: Quota, city_code: str | None = None) -> list[dict[str, Any]]:
    """Institutions by year-to-date completion against the time-elapsed pace, worst first."""
    rows = []
    for institution_id in sorted({a["institution_id"] for a in quota.agreements.values()}):
        institution = quota.institutions.get(institution_id) or {}
        if city_code and institution.get("city_code") != city_code:
            continue
        views = [
            agreement_view(quota, a, quota.service.as_of)
            for a in quota.agreements.values()
            if a["institution_id"] == institution_id
        ]
        agreed = sum(v["agreed_quantity"] for v in views)
        cumulative = sum(max(v["cumulative_quantity"], 0) for v in views)
        rows.append(
            {
                "institution_id": institution_id,
                "name": institution.get("name"),
                "city_code": institution.get("city_code"),
                "agreements": len(views),
                "agreed_quantity": agreed,
                "cumulative_quantity": cumulative,
                "completion_rate": str(rules.completion_rate(cumulative, agreed)),
                "pace": views[0]["pace"] if views else None,
                "suspended": bool(
                    (quota.institution_state.get(institution_id) or {}).get("suspension")
                ),
            }
        )
    return sorted(rows, key=lambda r: (Decimal(r["completion_rate"]), r["institution_id"]))


def _percent(rate: str | None) -> str:
    return "" if rate is None else f"{Decimal(rate) * 100:.1f}%"


def city_page(quota: Quota, city_code: str) -> str:
    rows = ranking(quota, city_code)
    as_of = quota.service.as_of.isoformat() if quota.service.as_of else "—"
    body = "".join(
        f"<tr><td>{escape(r['name'] or '')}</td><td>{r['institution_id']}</td>"
        f"<td class=n>{r['agreed_quantity']}</td><td class=n>{r['cumulative_quantity']}</td>"
        f"<td class=n>{_percent(r['completion_rate'])}</td><td class=n>{_percent(r['pace'])}</td>"
        f"<td>{'暂停月结算 suspended' if r['suspended'] else ''}</td></tr>"
        for r in rows
    )
    return f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>{city_code} 国家组织药品集中采购中选药品采购进度公示</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px}}.n{{text-align:right}}</style>
<h1>{city_code} 中选药品约定采购量完成进度公示</h1>
<p>Monthly disclosure of agreed-quantity completion (000 §五(四)) · 统计截至 as of {as_of} ·
政策 profile: {quota.service.policy.name}</p>
<table><tr><th>医疗机构 Institution</th><th>代码 Code</th><th>约定采购量 Agreed</th>
<th>累计采购量 Purchased</th><th>完成率 Completion</th><th>序时进度 Pace</th>
<th>状态 Status</th></tr>
{body}</table></html>"""


def register(service: LoopService, quota: Quota) -> None:
    @service.route("/v1/quota/institutions/{institution_id}")
    async def institution(request: Any, institution_id: str) -> Any:
        view = institution_view(quota, institution_id)
        if not view["agreements"] and view["institution"] is None:
            return Reply(404, {"error": f"no agreement or registration for {institution_id}"})
        return view

    @service.route("/v1/quota/products/{product_code}")
    async def product(request: Any, product_code: str) -> Any:
        agreements = sorted(
            (a for a in quota.agreements.values() if a["product_code"] == product_code),
            key=lambda a: a["agreement_id"],
        )
        if not agreements:
            return Reply(404, {"error": f"no agreement for product {product_code}"})
        return {
            "product_code": product_code,
            "product": quota.products.get(product_code),
            "agreements": [
                {"institution_id": a["institution_id"],
                 **agreement_view(quota, a, quota.service.as_of)}
                for a in agreements
            ],
        }

    @service.route("/v1/quota/ranking", query=("city",))
    async def province_ranking(request: Any) -> Any:
        return {
            "as_of": quota.service.as_of.isoformat() if quota.service.as_of else None,
            "institutions": ranking(quota, request.query.get("city")),
        }

    @service.route("/v1/quota/cities/{city_code}", content_type="text/html")
    async def city(request: Any, city_code: str) -> Any:
        return Reply(200, city_page(quota, city_code), content_type="text/html")
