"""The Chinese text of a notification: who (institution or enterprise), what (product), the
figures, and the clause of the implementation plan the rule enforces."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

RULES = {
    "quota.quarterly_completion": "季度约定采购量完成率不足",
    "quota.catch_up": "累计采购量已追平累计任务量",
    "quota.non_winning_ratio": "非中选药品采购量超过中选药品",
    "quota.year_end": "年度约定采购量未完成",
    "settlement.payment_overdue": "货款逾期未结清",
    "settlement.overdue_after_warning": "预警后仍逾期未结清货款",
    "settlement.prepayment": "医保基金预付",
    "supply.production_stop": "中选药品停产",
    "supply.low_inventory": "中选药品库存不足",
    "supply.shortfall_forecast": "预计产能不足",
    "supply.unfilled_orders": "订单逾期未配送",
    "supply.consistency_gate": "一致性评价挂网管理",
    "supply.distributor_limit": "配送企业数量超限",
    "supply.missing_monthly_report": "未按月报送生产供应情况",
    "calendar.arrangement_missing": "下一年度节假日安排未录入（工作日按法定节假日估算）",
}
ACTIONS = {
    "suspend_monthly_settlement": "暂停医保月结算",
    "resume_monthly_settlement": "恢复医保月结算",
    "reduce_next_year_budget": "核减下一年度医保总额",
    "suspend_fund_disbursement": "暂停医保基金拨付",
    "resume_fund_disbursement": "恢复医保基金拨付",
    "release_prepayment": "拨付医保预付金",
    "suspend_trading": "暂停挂网交易",
    "restore_trading": "恢复挂网交易",
}
SEVERITIES = {"info": "提示", "warning": "预警", "critical": "严重预警"}
LEVELS = {"institution": "医疗机构", "city": "市级", "province": "省级", "alliance": "联盟",
          "national": "国家级"}
KINDS = {"notify": "", "escalation": "【未确认·升级】", "repeat": "【再次提醒】"}
# metric -> (label, format): rate as %, quantities in minimum units, money in yuan.
METRICS: dict[str, tuple[str, str]] = {
    "completion_rate": ("完成率", "rate"), "quantity": ("采购量", "qty"),
    "target": ("任务量", "qty"),
    "counted_quantity": ("采购量", "qty"), "target_quantity": ("任务量", "qty"),
    "warn_below": ("预警线", "rate"), "suspend_below": ("暂停线", "rate"),
    "cumulative": ("累计采购量", "qty"), "agreed_quantity": ("约定采购量", "qty"),
    "shortfall": ("差额", "qty"), "price": ("中选价格", "money"),
    "amount": ("金额", "money"), "outstanding": ("未付金额", "money"),
    "paid": ("已付金额", "money"),
    "delivery_id": ("配送单", "text"), "accepted_on": ("验收日期", "text"),
    "due_date": ("应付日期", "text"), "days_overdue": ("逾期天数", "days"),
    "working_days": ("工作日", "days"), "inventory": ("库存", "qty"), "reserve": ("储备", "qty"),
    "cover_months": ("库存可供月数", "text"), "low_below": ("预警月数", "text"),
    "critical_below": ("临界月数", "text"), "expected_capacity": ("预计产能", "qty"),
    "committed_quantity": ("承诺供应量", "qty"), "gap": ("缺口", "qty"),
    "stopped_on": ("停产日期", "text"), "expected_resume_on": ("预计恢复日期", "text"),
    "incident_id": ("事件编号", "text"), "month": ("月份", "text"),
    "non_winning_reference_units": ("非中选采购量(折算)", "text"),
    "max_ratio": ("上限比例", "text"),
}
MAX_FIGURES = 8

Lookup = Callable[[str], dict[str, Any] | None]


@cache
def documents() -> dict[str, str]:
    """Seed prefix of a policy_ref (`000`) -> the document's number (黔医保发〔2019〕69号)."""
    from policies import PROFILE_NAMES, load_profile

    return {p.seed: p.document for p in map(load_profile, PROFILE_NAMES)}


def clause(policy_ref: str | None) -> str | None:
    if not policy_ref:
        return None
    if policy_ref == "bureau setting":
        return "医保局工作设定（文件未作规定）"
    seed, _, rest = policy_ref.partition(" ")
    document = documents().get(seed)
    return f"{document} {rest}" if document else policy_ref


def _figure(value: Any, style: str) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if style == "rate":
        return f"{(number * 100).quantize(Decimal('0.01'))}%"
    if style == "money":
        return f"{number}元"
    if style == "qty":
        return f"{int(number):,}" if number == number.to_integral_value() else str(number)
    if style == "days":
        return f"{value}天"
    return str(value)


def figures(metrics: dict[str, Any]) -> str:
    shown = [f"{METRICS[k][0]} {_figure(v, METRICS[k][1])}" for k, v in metrics.items()
             if k in METRICS and not isinstance(v, dict | list)]
    return "，".join(shown[:MAX_FIGURES])


def title(alert: dict[str, Any], kind: str = "notify") -> str:
    if alert["kind"] == "decision":
        head = f"【处理决定】{ACTIONS.get(alert['action'], alert['action'])}"
    elif alert["kind"] == "escalation":
        level = LEVELS.get(alert["level"], alert["level"])
        head = f"【短缺上报·{level}】{RULES.get(alert['rule'], alert['rule'])}"
    else:
        head = f"【{SEVERITIES[alert['severity']]}】{RULES.get(alert['rule'], alert['rule'])}"
    return KINDS.get(kind, "") + head


def lines(alert: dict[str, Any], institutions: Lookup, products: Lookup) -> list[str]:
    """One alert as labelled lines: 机构/企业, 药品, 地区, 周期, figures, 依据, 说明, 编号."""
    data = alert["data"]
    out = []
    if alert.get("institution_id"):
        found = institutions(alert["institution_id"]) or {}
        name = found.get("name")
        out.append(f"机构：{name}（{alert['institution_id']}）" if name
                   else f"机构：{alert['institution_id']}")
    elif alert.get("subject_kind") in ("manufacturer", "distributor"):
        word = "生产企业" if alert["subject_kind"] == "manufacturer" else "配送企业"
        out.append(f"{word}：{alert['subject_id']}")
    if alert.get("product_code"):
        found = products(alert["product_code"]) or {}
        name = " ".join(p for p in (found.get("generic_name") or data.get("generic_name"),
                                    found.get("specification")) if p)
        out.append(f"药品：{name}（{alert['product_code']}）" if name
                   else f"药品：{alert['product_code']}")
    if alert.get("region"):
        out.append(f"地区：{alert['region']}")
    if alert.get("period"):
        out.append(f"周期：{alert['period']}")
    if alert["kind"] == "decision":
        out.append(f"生效日期：{data['effective_from']}")
        if data.get("amount") is not None:
            out.append(f"金额：{data['amount']}元")
        if alert["caused_by"]:
            out.append("起因预警：" + "、".join(alert["caused_by"][:5]))
    shown = figures(data.get("metrics") or data.get("evidence") or {})
    if shown:
        out.append(f"指标：{shown}")
    if alert["kind"] == "escalation":
        out.append(f"原因：{data['reason']}")
        alternatives = data.get("alternatives") or []
        if alternatives:
            out.append("可替代药品：" + "；".join(
                f"{a['province']} {a['product_code']}（{a['manufacturer_id']}）"
                for a in alternatives[:5]))
    found_clause = clause(alert.get("policy_ref"))
    if found_clause:
        out.append(f"依据：{found_clause}")
    if data.get("message"):
        out.append(f"说明：{data['message']}")
    out.append(f"告警编号：{alert['id']}")
    return out


def summary(alerts: list[dict[str, Any]], kind: str) -> str:
    if len(alerts) == 1:
        return title(alerts[0], kind)
    return f"{title(alerts[0], kind)} 等{len(alerts)}条"


def text(alerts: list[dict[str, Any]], kind: str, institutions: Lookup, products: Lookup) -> str:
    parts = [summary(alerts, kind)]
    for i, alert in enumerate(alerts, start=1):
        head = title(alert, kind) if len(alerts) > 1 else None
        body = lines(alert, institutions, products)
        parts.append("\n".join(([f"{i}. {head}"] if head else []) + body))
    return "\n\n".join(parts)


def markdown(alerts: list[dict[str, Any]], kind: str, institutions: Lookup,
             products: Lookup) -> str:
    parts = [f"### {summary(alerts, kind)}"]
    for i, alert in enumerate(alerts, start=1):
        body = [f"> {line}" for line in lines(alert, institutions, products)]
        head = f"**{i}. {title(alert, kind)}**" if len(alerts) > 1 else None
        parts.append("\n".join(([head] if head else []) + body))
    return "\n\n".join(parts)


def clip(body: str, limit: int, footer: str = "") -> str:
    """body + footer in at most `limit` UTF-8 bytes (WeCom counts bytes); the body is cut on a
    character boundary, the footer (the notification id) always kept."""
    if len((body + footer).encode("utf-8")) <= limit:
        return body + footer
    tail = "\n……（内容过长，其余见告警接口）" + footer
    room = limit - len(tail.encode("utf-8"))
    return body.encode("utf-8")[:room].decode("utf-8", errors="ignore") + tail
