"""The payment standard (支付标准) of a listed product, as a hospital system asks for it (pure).

``rules.payment_standard`` splits a price between the fund and the patient given the winning
price; this module finds that winning price for a product from the product catalogue
(vbp.ref.products) and answers the read endpoint's question.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.policy import PaymentStandardPolicy
from services.settlement import rules
from services.settlement.accounts import fmt

FOUR_DP = Decimal("0.0001")  # the contract's price precision


class NoStandard(LookupError):
    """No payment standard can be given; ``status`` is the HTTP answer (404 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class WinningPrice:
    price: Decimal
    """Per unit of the product asked about (converted by reference units), 4 dp."""
    product_code: str
    """The winning product it comes from."""


def winning_price_for(product: Mapping[str, Any],
                      listed: Iterable[Mapping[str, Any]]) -> WinningPrice | None:
    """The winning price of ``product``'s generic name per unit of ``product``: a winner's
    price per reference unit times ``product``'s reference units (a 20 mg tablet is worth two
    10 mg ones). The seeds name one winning price per generic name; with several winners listed
    the lowest per reference unit is taken (our reading), and with none, there is no standard."""
    best: WinningPrice | None = None
    for other in sorted(listed, key=lambda p: p["product_code"]):
        if not other["winning"] or other["generic_name"] != product["generic_name"]:
            continue
        per_unit = (Decimal(other["price"]) / Decimal(other["reference_units"])
                    * Decimal(product["reference_units"])).quantize(FOUR_DP, ROUND_HALF_UP)
        if best is None or per_unit < best.price:
            best = WinningPrice(per_unit, other["product_code"])
    return best


def quote(product: Mapping[str, Any], listed: Iterable[Mapping[str, Any]],
          policy: PaymentStandardPolicy, price: Decimal | None = None, quantity: int = 1,
          non_passed_standard: Decimal | None = None) -> dict[str, Any]:
    """The fund's and the patient's shares of ``quantity`` units of ``product`` bought at
    ``price`` (the listed price by default), with the standard and the clause it rests on."""
    winning = winning_price_for(product, listed)
    if winning is None:
        raise NoStandard(404, f"no winning product of {product['generic_name']} is listed")
    unit_price = Decimal(product["price"]) if price is None else price
    split = rules.payment_standard(
        unit_price, winning.price, bool(product["consistency_passed"]),
        winning_price_is_standard=policy.winning_price_is_standard,
        non_passed_not_above_passed=policy.non_passed_not_above_passed,
        non_passed_standard=non_passed_standard, quantity=quantity)
    if split is None:
        if not policy.winning_price_is_standard.value:
            raise NoStandard(404, "the profile does not make the winning price the payment "
                                  f"standard ({policy.winning_price_is_standard.note or 'silent'})")
        raise NoStandard(422, "the product has not passed consistency evaluation and the profile "
                              "sets no standard for it: give non_passed_standard")
    refs = [policy.winning_price_is_standard.ref]
    if not product["consistency_passed"] and policy.non_passed_not_above_passed.value:
        refs.append(policy.non_passed_not_above_passed.ref)
    return {
        "product_code": product["product_code"], "generic_name": product["generic_name"],
        "consistency_passed": product["consistency_passed"], "price": fmt(unit_price),
        "quantity": quantity, "winning_price": fmt(winning.price),
        "winning_product_code": winning.product_code,
        "non_passed_standard": None if non_passed_standard is None else fmt(non_passed_standard),
        "fund_per_unit": fmt(split.fund / quantity), "fund": fmt(split.fund),
        "patient": fmt(split.patient),
        "policy_ref": ", ".join(dict.fromkeys(r for r in refs if r)),
    }
