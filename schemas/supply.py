"""`data` of manufacturers' supply reports and incidents (docs/contract.md, inputs)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from schemas.base import EventData, example
from schemas.types import (
    Identifier,
    IsoDate,
    ManufacturerId,
    Money,
    Month,
    ProductCode,
    Quantity,
    Text,
)

_ATORVASTATIN = "XC10AAA081A001010100328"
_AMLODIPINE = "XC08CAA017A001010100783"


class SupplyMonthlyReported(EventData):
    """A manufacturer's monthly report for one product (002 §四(六))."""

    TYPE: ClassVar[str] = "vbp.supply.monthly_reported"
    model_config = example({
        "report_id": "rpt-M11000000328-2020-02", "manufacturer_id": "M11000000328",
        "product_code": _ATORVASTATIN, "month": "2020-02", "produced_quantity": 5000000,
        "supplied_quantity": 4200000, "inventory_quantity": 1800000,
        "reserve_quantity": 600000, "monthly_capacity": 6000000,
        "payments_received": "3150000.0000",
    })
    report_id: Identifier
    manufacturer_id: ManufacturerId
    product_code: ProductCode
    month: Month
    produced_quantity: Quantity
    supplied_quantity: Quantity
    inventory_quantity: Quantity
    reserve_quantity: Quantity = Field(description="Emergency reserve held (应急储备).")
    monthly_capacity: Quantity
    payments_received: Money = Field(description="Payments received in the month, in yuan.")


class ProductionStopped(EventData):
    """A manufacturer reports a production stop."""

    TYPE: ClassVar[str] = "vbp.supply.production_stopped"
    model_config = example({
        "incident_id": "inc-M12000000783-0001", "manufacturer_id": "M12000000783",
        "product_code": _AMLODIPINE, "stopped_on": "2020-04-02",
        "expected_resume_on": "2020-04-20", "reason": "原料药供应中断",
    })
    incident_id: Identifier
    manufacturer_id: ManufacturerId
    product_code: ProductCode
    stopped_on: IsoDate
    expected_resume_on: IsoDate | None = Field(
        default=None, description="Expected resumption date, or null when unknown."
    )
    reason: Text

    @model_validator(mode="after")
    def _resume_after_stop(self) -> ProductionStopped:
        if self.expected_resume_on is not None and self.expected_resume_on < self.stopped_on:
            raise ValueError("expected_resume_on is before stopped_on")
        return self


class ProductionResumed(EventData):
    """Production resumed after the stop reported under the same incident_id."""

    TYPE: ClassVar[str] = "vbp.supply.production_resumed"
    model_config = example({
        "incident_id": "inc-M12000000783-0001", "manufacturer_id": "M12000000783",
        "product_code": _AMLODIPINE, "resumed_on": "2020-04-18",
    })
    incident_id: Identifier
    manufacturer_id: ManufacturerId
    product_code: ProductCode
    resumed_on: IsoDate


class ShortfallForecast(EventData):
    """A foreseeable capacity shortfall, reported in advance (002 §四(六))."""

    TYPE: ClassVar[str] = "vbp.supply.shortfall_forecast"
    model_config = example({
        "incident_id": "inc-M12000000783-0002", "manufacturer_id": "M12000000783",
        "product_code": _AMLODIPINE, "month": "2020-05", "expected_capacity": 2000000,
        "committed_quantity": 2600000,
    })
    incident_id: Identifier
    manufacturer_id: ManufacturerId
    product_code: ProductCode
    month: Month
    expected_capacity: Quantity
    committed_quantity: Quantity
