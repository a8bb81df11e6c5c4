"""Settlement accounts: what institutions owe suppliers, and what the fund has advanced them.

Pure values and functions, no I/O. Money is ``Decimal`` end to end: amounts arrive as the
contract's decimal strings, and a float is refused (:func:`money`), because 0.1 + 0.2 yuan
must not become 0.30000000000000004. Allocating a payment never rounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Literal, NamedTuple

MoneyLike = Decimal | int | str
ZERO = Decimal(0)


def money(x: MoneyLike) -> Decimal:
    """A yuan amount as ``Decimal``; floats (and bools) are refused, not converted."""
    if isinstance(x, (float, bool)) or not isinstance(x, (Decimal, int, str)):
        raise TypeError(f"money must be a Decimal, int or decimal string, not {type(x).__name__}")
    d = x if isinstance(x, Decimal) else Decimal(x)
    if not d.is_finite():
        raise ValueError(f"money must be finite, got {x!r}")
    return d


# --------------------------------------------------------------------------- payables


@dataclass(frozen=True)
class Payable:
    """What an institution owes for one accepted delivery (``vbp.delivery.accepted``)."""

    delivery_id: str
    institution_id: str
    amount: Decimal
    """The delivery's amount in yuan."""
    accepted_on: date
    """验收合格 date; the payment deadline runs from it (000 §五(三), 004 §五(四))."""
    supplier_id: str | None = None
    """Who is to be paid (the order's distributor, or the manufacturer delivering itself);
    None when not known."""
    paid: Decimal = ZERO
    """Paid so far; never above ``amount`` (an excess is reported, see :func:`apply_payment`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", money(self.amount))
        object.__setattr__(self, "paid", money(self.paid))
        if self.amount < 0 or not ZERO <= self.paid <= self.amount:
            raise ValueError(f"payable {self.delivery_id}: need 0 <= paid <= amount")

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid

    @property
    def settled(self) -> bool:
        return self.paid >= self.amount


@dataclass(frozen=True)
class Payment:
    """``vbp.payment.made``: an institution pays a supplier for the deliveries it names."""

    payment_id: str
    institution_id: str
    payee_id: str
    delivery_ids: tuple[str, ...]
    amount: Decimal
    paid_on: date

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", money(self.amount))
        object.__setattr__(self, "delivery_ids", tuple(self.delivery_ids))
        if self.amount < 0:
            raise ValueError(f"payment {self.payment_id}: negative amount")


AnomalyKind = Literal[
    "unknown_delivery", "other_institution", "already_paid", "payee_differs", "overpayment"
]


@dataclass(frozen=True)
class PaymentAnomaly:
    """Something in a payment that does not match the payables; reported, never dropped."""

    kind: AnomalyKind
    payment_id: str
    delivery_id: str | None
    """The delivery concerned; None for ``overpayment`` (it concerns the whole payment)."""
    amount: Decimal | None
    """For ``overpayment``: the excess left after every named delivery was paid in full."""
    message: str


class PaymentApplied(NamedTuple):
    payables: dict[str, Payable]
    """All payables, the paid ones updated (the input mapping is not changed)."""
    anomalies: list[PaymentAnomaly]


def apply_payment(payables: Mapping[str, Payable], payment: Payment) -> PaymentApplied:
    """Allocate ``payment`` to the deliveries it names.

    The oldest accepted delivery is paid first (ties: in the order the payment names them),
    each in full before the next, so a short payment clears the debts closest to overdue.
    A delivery id named twice counts once. Named deliveries that are unknown or belong to
    another institution take nothing; a named delivery already paid takes nothing; a payee other
    than the delivery's known supplier is reported but still paid (a manufacturer may deliver
    itself, 002 §四(六)). Whatever is left after every named delivery is paid in full is reported
    as ``overpayment`` with the excess, so no yuan is lost.
    """
    updated = dict(payables)
    anomalies: list[PaymentAnomaly] = []

    def report(kind: AnomalyKind, delivery_id: str | None, message: str,
               amount: Decimal | None = None) -> None:
        anomalies.append(PaymentAnomaly(kind, payment.payment_id, delivery_id, amount, message))

    named: list[Payable] = []
    for delivery_id in dict.fromkeys(payment.delivery_ids):
        payable = payables.get(delivery_id)
        if payable is None:
            report("unknown_delivery", delivery_id, f"payment names unknown delivery {delivery_id}")
        elif payable.institution_id != payment.institution_id:
            report("other_institution", delivery_id,
                   f"delivery {delivery_id} belongs to {payable.institution_id}, "
                   f"not the paying institution {payment.institution_id}")
        elif payable.settled:
            report("already_paid", delivery_id, f"delivery {delivery_id} is already paid in full")
        else:
            named.append(payable)

    left = payment.amount
    for payable in sorted(named, key=lambda p: p.accepted_on):  # stable: ties keep named order
        if payable.supplier_id is not None and payable.supplier_id != payment.payee_id:
            report("payee_differs", payable.delivery_id,
                   f"delivery {payable.delivery_id} was supplied by {payable.supplier_id}, "
                   f"payment goes to {payment.payee_id}")
        share = min(left, payable.outstanding)
        if share > 0:
            updated[payable.delivery_id] = replace(payable, paid=payable.paid + share)
            left -= share
    if left > 0:
        report("overpayment", None,
               f"payment {payment.payment_id} exceeds what its deliveries owe by {left} yuan", left)
    return PaymentApplied(updated, anomalies)


# --------------------------------------------------------------------------- prepayments


@dataclass(frozen=True)
class PrepaymentRelease:
    """Money the fund advanced to an institution: a ``release_prepayment`` decision, or a
    ``vbp.fund.prepaid`` event (which names no agreement)."""

    release_id: str
    institution_id: str
    amount: Decimal
    released_on: date
    account: str | None = None
    """The agreement it was computed on (or ``"2020"`` for a yearly prepayment); None if unknown."""
    label: str | None = None
    """Which release of the account: ``release_prepayment``, ``tranche-2``,
    ``continued-2020-11``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", money(self.amount))


@dataclass(frozen=True)
class PrepaymentReconciliation:
    """Year-end (清算) position of one institution: the advance netted against actual purchases."""

    institution_id: str
    prepaid: Decimal
    actual: Decimal
    """Actual purchase amount of winning products over the same period."""
    release_ids: tuple[str, ...] = field(default=())

    @property
    def balance(self) -> Decimal:
        """prepaid - actual: positive is advance not used up (to recover or offset against the
        next settlements); negative is purchases beyond the advance, settled as usual."""
        return self.prepaid - self.actual

    @property
    def to_recover(self) -> Decimal:
        return max(self.balance, ZERO)


def reconcile_prepayments(
    ledger: Iterable[PrepaymentRelease], actual_purchases: Mapping[str, MoneyLike]
) -> list[PrepaymentReconciliation]:
    """003 §三(三)1 "协议供货期结束后，根据中选品种实际使用数量进行清算结账" (and 000 §五(三)
    "合同到期结束后...做好清算工作"): per institution that received prepayments, the total
    advanced against its actual purchase amount (``actual_purchases`` by institution_id; a
    missing one bought nothing). The caller passes the period's releases; nothing is rounded.
    """
    by_institution: dict[str, list[PrepaymentRelease]] = {}
    for release in ledger:
        by_institution.setdefault(release.institution_id, []).append(release)
    return [
        PrepaymentReconciliation(
            institution_id=inst,
            prepaid=sum((r.amount for r in releases), ZERO),
            actual=money(actual_purchases.get(inst, ZERO)),
            release_ids=tuple(r.release_id for r in releases),
        )
        for inst, releases in sorted(by_institution.items())
    ]
