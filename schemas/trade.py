"""`data` of orders, deliveries and payments (docs/contract.md, inputs)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from schemas.base import EventData, example
from schemas.types import (
    DistributorId,
    Identifier,
    InstitutionId,
    IsoDate,
    Money,
    PartyId,
    PositiveQuantity,
    ProductCode,
    Text,
)

_ATORVASTATIN = "XC10AAA081A001010100328"
_GUIYANG_HOSPITAL = "H52010200001"


class OrderPlaced(EventData):
    """An institution placed an order on the platform."""

    TYPE: ClassVar[str] = "vbp.order.placed"
    model_config = example({
        "order_id": "ord-20200305-000123", "institution_id": _GUIYANG_HOSPITAL,
        "product_code": _ATORVASTATIN, "quantity": 3000, "unit_price": "0.9400",
        "distributor_id": "D52010000017",
    })
    order_id: Identifier
    institution_id: InstitutionId
    product_code: ProductCode
    quantity: PositiveQuantity
    unit_price: Money = Field(description="Price per unit in yuan.")
    distributor_id: DistributorId


class OrderCancelled(EventData):
    """An order was cancelled; quota counts orders net of cancellations."""

    TYPE: ClassVar[str] = "vbp.order.cancelled"
    model_config = example({"order_id": "ord-20200305-000123", "institution_id": _GUIYANG_HOSPITAL})
    order_id: Identifier
    institution_id: InstitutionId


class DeliveryAccepted(EventData):
    """The institution accepted a delivery (入库); the payment deadline runs from accepted_on."""

    TYPE: ClassVar[str] = "vbp.delivery.accepted"
    model_config = example({
        "delivery_id": "dlv-20200309-000045", "order_id": "ord-20200305-000123",
        "institution_id": _GUIYANG_HOSPITAL, "product_code": _ATORVASTATIN, "quantity": 3000,
        "amount": "2820.0000", "accepted_on": "2020-03-09",
    })
    delivery_id: Identifier
    order_id: Identifier
    institution_id: InstitutionId
    product_code: ProductCode
    quantity: PositiveQuantity
    amount: Money = Field(description="Amount payable for the delivery in yuan.")
    accepted_on: IsoDate


class DeliveryRejected(EventData):
    """The institution refused a delivery."""

    TYPE: ClassVar[str] = "vbp.delivery.rejected"
    model_config = example({
        "delivery_id": "dlv-20200309-000046", "order_id": "ord-20200305-000124",
        "institution_id": _GUIYANG_HOSPITAL, "reason": "外包装破损",
    })
    delivery_id: Identifier
    order_id: Identifier
    institution_id: InstitutionId
    reason: Text


class PaymentMade(EventData):
    """An institution paid its supplier for accepted deliveries."""

    TYPE: ClassVar[str] = "vbp.payment.made"
    model_config = example({
        "payment_id": "pay-20200401-000311", "institution_id": _GUIYANG_HOSPITAL,
        "payee_id": "D52010000017", "delivery_ids": ["dlv-20200309-000045"],
        "amount": "2820.0000", "paid_on": "2020-04-01",
    })
    payment_id: Identifier
    institution_id: InstitutionId
    payee_id: PartyId
    delivery_ids: list[Identifier] = Field(
        min_length=1, max_length=10000, description="Deliveries this payment settles."
    )
    amount: Money
    paid_on: IsoDate

    @model_validator(mode="after")
    def _unique_deliveries(self) -> PaymentMade:
        if len(set(self.delivery_ids)) != len(self.delivery_ids):
            raise ValueError("delivery_ids has duplicates")
        return self


class FundPrepaid(EventData):
    """The insurance fund prepaid an institution."""

    TYPE: ClassVar[str] = "vbp.fund.prepaid"
    model_config = example({
        "prepayment_id": "pre-520000-2020-000001", "institution_id": _GUIYANG_HOSPITAL,
        "amount": "186000.0000", "paid_on": "2020-01-15",
    })
    prepayment_id: Identifier
    institution_id: InstitutionId
    amount: Money
    paid_on: IsoDate
