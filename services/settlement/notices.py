"""Two settlement reports beyond the contract's minimum rules (our extension), as pure functions.

* ``settlement.payment_unmatched``: a payment that does not match the payables it names
  (unknown or already paid deliveries, an excess, another payee) is reported once, never
  dropped. It cites the payment-deadline clause, the one that makes institutions pay suppliers
  for their deliveries (000 §五(三), 004 §五(四), "及时结算" elsewhere).
* ``settlement.prepayment_reconciliation``: once a prepayment account's period has ended, what
  was advanced is settled against actual purchases (003 §三(三)1 "清算结账", 000 §五(三) "做好
  清算工作"), where the profile says prepayments are reconciled at the end.

Both are ``vbp.warning.raised`` events with deterministic ids.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from kernel.findings import BUREAU_REF, Param, output_id
from services.settlement.accounts import fmt
from services.settlement.ledger import Payment, PaymentAnomaly, PrepaymentReconciliation
from services.settlement.rules import Deadline, Prepayment

PAYMENT_UNMATCHED = "settlement.payment_unmatched"
PREPAYMENT_RECONCILIATION = "settlement.prepayment_reconciliation"

# Money that matched nothing; a payee other than the known supplier is only worth noting.
_MONEY_UNMATCHED = frozenset(
    {"unknown_delivery", "other_institution", "already_paid", "overpayment"})


@dataclass(frozen=True)
class Notice:
    """A ``vbp.warning.raised`` about an institution; ``data()`` is its contract ``data``."""

    warning_id: str
    rule: str
    severity: Literal["info", "warning"]
    policy_ref: str
    subject_id: str
    period: str | None
    metrics: Mapping[str, Any]
    message: str

    def data(self) -> dict[str, Any]:
        return {"warning_id": self.warning_id, "rule": self.rule, "severity": self.severity,
                "subject_kind": "institution", "subject_id": self.subject_id,
                "period": self.period, "metrics": dict(self.metrics),
                "policy_ref": self.policy_ref, "message": self.message}


def payment_unmatched(payment: Payment, anomalies: Sequence[PaymentAnomaly], applied: Decimal,
                      deadline: Param[Deadline]) -> Notice | None:
    """What in ``payment`` did not match, with the part that did (``applied``); None when it
    all matched. Severity ``warning`` when money matched nothing, ``info`` for a payee other
    than the delivery's known supplier (the delivery is still paid, see ``apply_payment``)."""
    if not anomalies:
        return None
    unmatched = payment.amount - applied
    kinds = sorted({a.kind for a in anomalies})
    return Notice(
        warning_id=output_id(PAYMENT_UNMATCHED, payment.institution_id, payment.payment_id,
                             "warning"),
        rule=PAYMENT_UNMATCHED,
        severity="warning" if _MONEY_UNMATCHED & set(kinds) else "info",
        policy_ref=deadline.ref or BUREAU_REF,
        subject_id=payment.institution_id,
        period=None,
        metrics={
            "payment_id": payment.payment_id, "payee_id": payment.payee_id,
            "paid_on": payment.paid_on.isoformat(), "amount": fmt(payment.amount),
            "applied": fmt(applied), "unmatched": fmt(unmatched),
            "delivery_ids": list(payment.delivery_ids), "kinds": kinds,
            "anomalies": [{"kind": a.kind, "delivery_id": a.delivery_id,
                           "amount": None if a.amount is None else fmt(a.amount)}
                          for a in anomalies],
        },
        message=f"payment {payment.payment_id} of {fmt(payment.amount)} yuan: "
                + "; ".join(a.message for a in anomalies),
    )


def prepayment_reconciliation(reconciliation: PrepaymentReconciliation, account: str,
                              start: date, end: date, prepay: Param[Prepayment]) -> Notice | None:
    """The year-end position of one prepayment account: advanced (the releases decided),
    actual purchases over ``start..end``, and the balance (positive: advance not used up, to
    recover or offset against the next settlements). None unless the profile reconciles."""
    rule = prepay.value
    if rule is None or not rule.reconcile_at_end:
        return None
    r = reconciliation
    return Notice(
        warning_id=output_id(PREPAYMENT_RECONCILIATION, r.institution_id, account,
                             "reconciliation"),
        rule=PREPAYMENT_RECONCILIATION,
        severity="info",
        policy_ref=prepay.ref or BUREAU_REF,
        subject_id=r.institution_id,
        period=str(end.year),
        metrics={"account": account, "period_start": start.isoformat(),
                 "period_end": end.isoformat(), "prepaid": fmt(r.prepaid),
                 "actual": fmt(r.actual), "balance": fmt(r.balance),
                 "to_recover": fmt(r.to_recover), "release_ids": list(r.release_ids)},
        message=f"prepayment account {account} ({start}..{end}): advanced {fmt(r.prepaid)} yuan, "
                f"purchased {fmt(r.actual)} yuan, {fmt(r.to_recover)} yuan to recover",
    )
