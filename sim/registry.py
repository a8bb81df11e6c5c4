"""The province's registry for one simulation: institutions, products and agreements.

Agreements are derived from prior-year use (000 §五(一)): each institution's agreed quantity of a
winning product is its prior-year use of the generic name times the agreed share. A profile that
names a share (Chongqing 60-70 %, Shanxi 50-80 %) gives it; where the profile has none (Guizhou:
the national quantity is split by each institution's share of platform purchases, which is the
same thing institution by institution) the national rule of the alliance-region procurement
applies: 50 % of the prior-year use with one winner, 60 % with two, 70 % with three.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.policy import PolicyProfile
from sim import geo, parties
from sim.config import SimConfig
from sim.drugs import GENERICS, Generic, Offer, product_code

NATIONAL_SHARE_BY_WINNERS = {1: 0.5, 2: 0.6, 3: 0.7}

# Prior-year use of amlodipine 5 mg (the most used name) per institution tier, in tablets.
PRIOR_USE_BASE = {"tertiary": 400_000, "secondary": 110_000, "primary": 25_000,
                  "pharmacy": 15_000, "private": 30_000, "military": 80_000}
# Share of an eligible generic name an institution of the tier has an agreement for.
PORTFOLIO_TAKE = {"tertiary": 0.8, "secondary": 0.4, "primary": 0.45, "pharmacy": 0.4,
                  "private": 0.4, "military": 0.45}
# Which generic names a tier prescribes (drugs.Generic.tiers speaks of these four).
PRESCRIBES_AS = {"tertiary": "tertiary", "secondary": "secondary", "primary": "primary",
                 "pharmacy": "pharmacy", "private": "secondary", "military": "secondary"}


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    county_code: str
    city_code: str
    kind: str
    """Contract kind: public, military, private, pharmacy."""
    tier: str
    """tertiary, secondary, primary, pharmacy, private, military: sizes its use and portfolio."""
    designated: bool
    size: float


@dataclass(frozen=True)
class Product:
    code: str
    generic: Generic
    offer: Offer

    @property
    def manufacturer_id(self) -> str:
        return self.offer.maker.manufacturer_id


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    institution: Institution
    product: Product
    agreed_quantity: int
    prior_use: int
    distributor_ids: tuple[str, ...]
    period_start: date
    period_end: date


@dataclass(frozen=True)
class Registry:
    institutions: tuple[Institution, ...]
    products: tuple[Product, ...]
    agreements: tuple[Agreement, ...]
    manufacturer_distributors: dict[str, tuple[str, ...]]

    def product(self, generic_name: str, manufacturer_id: str) -> Product:
        return next(p for p in self.products
                    if p.generic.name == generic_name and p.manufacturer_id == manufacturer_id)

    def winners(self) -> list[Product]:
        return [p for p in self.products if p.offer.winning]


def agreed_share(policy: PolicyProfile, winners: int) -> float:
    share = policy.quota.agreed_share_of_prior_use.value
    if share is None:
        return NATIONAL_SHARE_BY_WINNERS[min(winners, 3)]
    return (float(share.min) + float(share.max)) / 2


def _tier_counts(n: int) -> dict[str, int]:
    counts = {
        "tertiary": min(len(parties.TERTIARY), max(2, round(n * 0.10))),
        "military": min(len(parties.MILITARY), max(1, round(n * 0.02))),
        "private": max(1, round(n * 0.08)),
        "pharmacy": max(2, round(n * 0.20)),
        "primary": max(2, round(n * 0.22)),
    }
    counts["secondary"] = n - sum(counts.values())
    return counts


def build_institutions(config: SimConfig) -> list[Institution]:
    rng = random.Random(f"{config.seed}:institutions")
    counts = _tier_counts(config.institutions)
    counties = [code for city in geo.CITIES for code, _ in city.counties]
    serials: dict[str, int] = {}
    made: list[Institution] = []

    def add(county: str, name: str, kind: str, tier: str, designated: bool = True) -> None:
        prefix = "P" if kind == "pharmacy" else "H"
        serials[prefix + county] = serials.get(prefix + county, 0) + 1
        size = round(rng.uniform(0.6, 1.6), 3)
        made.append(Institution(f"{prefix}{county}{serials[prefix + county]:05d}", name, county,
                                geo.CITY_OF_COUNTY[county], kind, tier, designated, size))

    for county, name in parties.TERTIARY[:counts["tertiary"]]:
        add(county, name, "public", "tertiary")
    for county, name in parties.MILITARY[:counts["military"]]:
        add(county, name, "military", "military")
    order = counties[:]
    rng.shuffle(order)
    used: set[str] = {i.name for i in made}

    def named(tier_suffixes: tuple[str, ...], i: int) -> tuple[str, str]:
        plain_names = len(counties) * len(tier_suffixes)
        for tries in itertools.count():
            county = order[i % len(order)] if tier_suffixes is parties.SECONDARY_SUFFIXES \
                else rng.choice(counties)
            suffix = tier_suffixes[(i // len(order)) % len(tier_suffixes)] \
                if tier_suffixes is parties.SECONDARY_SUFFIXES else rng.choice(tier_suffixes)
            name = geo.COUNTY_NAMES[county] + suffix
            if tries >= plain_names:  # a large registry: the plain names may all be taken
                name += f"（{tries // plain_names + 1}）"
            if name not in used:
                used.add(name)
                return county, name
            i += 1

    for i in range(counts["secondary"]):
        add(*named(parties.SECONDARY_SUFFIXES, i), "public", "secondary")
    for i in range(counts["primary"]):
        add(*named(parties.PRIMARY_SUFFIXES, i), "public", "primary")
    for i in range(counts["private"]):
        add(*named(parties.PRIVATE_SUFFIXES, i), "private", "private", rng.random() < 0.8)
    for i in range(counts["pharmacy"]):
        county, name = named(parties.PHARMACY_SUFFIXES, i)
        add(county, name, "pharmacy", "pharmacy")
    return made


def build_products() -> list[Product]:
    return [Product(product_code(g, o), g, o) for g in GENERICS for o in g.offers]


def build_registry(config: SimConfig, policy: PolicyProfile) -> Registry:
    institutions = build_institutions(config)
    products = build_products()
    rng = random.Random(f"{config.seed}:agreements")
    # Each manufacturer picks two or three distributors (000 §五(二): 自主选定).
    makers = sorted({p.manufacturer_id for p in products})
    distributor_ids = [d.distributor_id for d in parties.DISTRIBUTORS]
    chosen = {m: tuple(sorted(rng.sample(distributor_ids, rng.choice((2, 3))))) for m in makers}
    start, end = date(config.year, 1, 1), date(config.year, 12, 31)
    agreements: list[Agreement] = []
    for institution in institutions:
        # Private institutions that are not insurance-designated, and about a third of the
        # pharmacies (who may volunteer, 000 §四(一)), sign no agreement.
        if not institution.designated:
            continue
        if institution.tier == "pharmacy" and rng.random() < 0.35:
            continue
        tier = PRESCRIBES_AS[institution.tier]
        eligible = [g for g in GENERICS if tier in g.tiers]
        portfolio = [g for g in eligible if rng.random() < PORTFOLIO_TAKE[institution.tier]]
        if len(portfolio) < 2:
            portfolio = eligible[:2]
        for generic in portfolio:
            winners = generic.winners
            offer = winners[0] if len(winners) == 1 else rng.choices(
                winners, weights=[0.6] + [0.4 / (len(winners) - 1)] * (len(winners) - 1))[0]
            product = next(p for p in products if p.generic is generic and p.offer is offer)
            prior = PRIOR_USE_BASE[institution.tier] * generic.weight * institution.size
            prior_units = max(generic.pack * 8, round(prior / float(offer.reference_units or 1)))
            share = agreed_share(policy, len(winners))
            agreed = max(generic.pack * 4, round(prior_units * share / generic.pack) * generic.pack)
            serving = {d.distributor_id for d in parties.serving(institution.city_code)}
            named = [d for d in chosen[product.manufacturer_id] if d in serving]
            if not named:
                named = [parties.DISTRIBUTORS[0].distributor_id]
            agreements.append(Agreement(
                f"AGR-{policy.region_code}-{config.year}-{len(agreements) + 1:06d}", institution,
                product, agreed, prior_units, tuple(named[:2]), start, end))
    return Registry(tuple(institutions), tuple(products), tuple(agreements), chosen)


def price(product: Product) -> Decimal:
    return product.offer.price
