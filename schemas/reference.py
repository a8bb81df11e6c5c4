"""`data` of the reference topics and the clock (docs/contract.md, inputs)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas.base import EventData, example
from schemas.types import (
    DistributorId,
    Identifier,
    InstitutionId,
    IsoDate,
    ManufacturerId,
    Money,
    Name,
    PositiveQuantity,
    ProductCode,
    RegionCode,
    Units,
)

_ATORVASTATIN = "XC10AAA081A001010100328"
_GUIYANG_HOSPITAL = "H52010200001"


class InstitutionRegistered(EventData):
    """A medical institution or pharmacy known to the platform."""

    TYPE: ClassVar[str] = "vbp.institution.registered"
    model_config = example({
        "institution_id": _GUIYANG_HOSPITAL, "name": "贵阳市第一人民医院",
        "county_code": "520102", "city_code": "520100", "kind": "public",
        "insurance_designated": True, "disbursement_year": 2019,
        "avg_monthly_disbursement": "6200000.0000",
    })
    institution_id: InstitutionId
    name: Name
    county_code: RegionCode = Field(description="GB/T 2260 code of the county (区/县).")
    city_code: RegionCode = Field(description="GB/T 2260 code of the city or prefecture (市州).")
    kind: Literal["public", "military", "private", "pharmacy"]
    insurance_designated: bool = Field(strict=True, description="Insurance-designated (定点).")
    disbursement_year: int | None = Field(
        default=None, strict=True, ge=1000, le=9999,
        description="Our extension, set by the bureau: the year that avg_monthly_disbursement "
        "covers. Re-register the institution each year with the new figure.",
    )
    avg_monthly_disbursement: Money | None = Field(
        default=None,
        description="Our extension, set by the bureau: the institution's average monthly "
        "insurance-fund disbursement in disbursement_year (上年度月均拨付医保基金), the basis of "
        "Guizhou's prepayment for the following year (000 §五(三)).",
    )

    @model_validator(mode="after")
    def _pharmacy_prefix(self) -> InstitutionRegistered:
        # Contract: the code starts with P exactly for pharmacies, H for hospitals and clinics.
        if (self.kind == "pharmacy") != self.institution_id.startswith("P"):
            raise ValueError("institution_id starts with P exactly when kind is 'pharmacy'")
        if (self.disbursement_year is None) != (self.avg_monthly_disbursement is None):
            raise ValueError("disbursement_year and avg_monthly_disbursement come together")
        return self


class ProductListed(EventData):
    """A product on the platform's catalogue, with its winning status and price."""

    TYPE: ClassVar[str] = "vbp.product.listed"
    model_config = example({
        "product_code": _ATORVASTATIN, "generic_name": "阿托伐他汀钙片",
        "specification": "20mg", "unit": "片", "manufacturer_id": "M11000000328",
        "winning": True, "price": "0.9400", "consistency_passed": True, "reference_units": "2",
    })
    product_code: ProductCode
    generic_name: Name
    specification: Name
    unit: Name = Field(description="Minimum unit that quantities count (片/粒/支).")
    manufacturer_id: ManufacturerId
    winning: bool = Field(strict=True, description="A winning product (中选药品).")
    price: Money = Field(description="Price per unit in yuan (the winning price if winning).")
    consistency_passed: bool = Field(strict=True, description="Passed consistency evaluation.")
    reference_units: Units = Field(
        description="Units of the generic name's reference strength per unit, "
        "to compare products of one generic name."
    )


class AgreementSigned(EventData):
    """An institution's purchase agreement for one winning product and one agreement year."""

    TYPE: ClassVar[str] = "vbp.agreement.signed"
    model_config = example({
        "agreement_id": "AGR-520000-2020-000001", "institution_id": _GUIYANG_HOSPITAL,
        "product_code": _ATORVASTATIN, "generic_name": "阿托伐他汀钙片", "cycle_year": 1,
        "period_start": "2020-01-01", "period_end": "2020-12-31", "agreed_quantity": 120000,
        "price": "0.9400", "manufacturer_id": "M11000000328",
        "distributor_ids": ["D52010000017", "D52010000023"],
    })
    agreement_id: Identifier
    institution_id: InstitutionId
    product_code: ProductCode
    generic_name: Name
    cycle_year: int = Field(
        strict=True, ge=1, le=9999,
        description="Year of the procurement cycle this agreement covers (1 = first year).",
    )
    period_start: IsoDate = Field(description="First day of the agreement period (inclusive).")
    period_end: IsoDate = Field(description="Last day of the agreement period (inclusive).")
    agreed_quantity: PositiveQuantity = Field(description="Agreed quantity (约定采购量).")
    price: Money = Field(description="Winning price per unit in yuan.")
    manufacturer_id: ManufacturerId
    distributor_ids: list[DistributorId] = Field(
        max_length=1000,
        description="Distributors named for this agreement; the profile's limit is a rule "
        "(supply.distributor_limit), not a schema check.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AgreementSigned:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if len(set(self.distributor_ids)) != len(self.distributor_ids):
            raise ValueError("distributor_ids has duplicates")
        return self


class ClockTick(EventData):
    """Business day `as_of` has begun; every earlier day has ended."""

    TYPE: ClassVar[str] = "vbp.clock.tick"
    model_config = example({"as_of": "2020-04-01"})
    as_of: IsoDate
