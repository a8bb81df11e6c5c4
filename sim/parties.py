"""Distributors (配送企业) serving Guizhou, and the institutions' names by kind.

Distributor ids: D + the GB/T 2260 code of the city of registration + a serial. The three
province-wide distributors serve every city; the regional ones the cities listed.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Distributor:
    distributor_id: str
    name: str
    cities: tuple[str, ...] | None
    """City codes served, or None for the whole province."""


DISTRIBUTORS: tuple[Distributor, ...] = (
    Distributor("D52010000017", "国药控股贵州有限公司", None),
    Distributor("D52010000023", "华润贵州医药有限公司", None),
    Distributor("D52010000031", "贵州康心药业有限公司", None),
    Distributor("D52030000042", "遵义市医药有限公司", ("520300", "520600")),
    Distributor("D52050000053", "毕节市医药有限公司", ("520500", "520200")),
    Distributor("D52260000064", "黔东南州医药有限公司", ("522600", "522700")),
    Distributor("D52230000075", "黔西南州医药有限公司", ("522300", "520400")),
)


def serving(city_code: str) -> list[Distributor]:
    return [d for d in DISTRIBUTORS if d.cities is None or city_code in d.cities]


# The prefectures' large general hospitals (三级), with the county they stand in. The first is
# the contract's example institution, H52010200001.
TERTIARY: tuple[tuple[str, str], ...] = (
    ("520102", "贵阳市第一人民医院"),
    ("520102", "贵州省人民医院"),
    ("520103", "贵州医科大学附属医院"),
    ("520103", "贵州中医药大学第一附属医院"),
    ("520115", "贵阳市第二人民医院"),
    ("520103", "贵州医科大学附属肿瘤医院"),
    ("520302", "遵义医科大学附属医院"),
    ("520302", "遵义市第一人民医院"),
    ("520201", "六盘水市人民医院"),
    ("520402", "安顺市人民医院"),
    ("520502", "毕节市第一人民医院"),
    ("520602", "铜仁市人民医院"),
    ("522301", "黔西南州人民医院"),
    ("522601", "黔东南州人民医院"),
    ("522701", "黔南州人民医院"),
)

MILITARY: tuple[tuple[str, str], ...] = (
    ("520103", "中国人民解放军联勤保障部队第九二五医院"),
    ("520102", "武警贵州省总队医院"),
    ("520302", "遵义市军休所门诊部"),
)

# County-level hospitals (二级), primary care (基层), private hospitals and pharmacies are named
# after their county: "{county}人民医院", ...
SECONDARY_SUFFIXES = ("人民医院", "中医医院", "妇幼保健院", "第二人民医院")
PRIMARY_SUFFIXES = ("城关镇卫生院", "中心卫生院", "社区卫生服务中心", "第二社区卫生服务中心")
PRIVATE_SUFFIXES = ("仁爱医院", "康复医院", "骨科医院", "协和医院")
PHARMACY_SUFFIXES = ("一树大药房", "惠民大药房", "康民大药房", "益康大药房")
