"""The 25 generic names of the first national VBP batch (4+7, 国家组织药品集中采购试点, 2018-12).

Generic names, strengths and minimum units as published; the winners are the pilot's winning
manufacturers and their prices approximate the published winning prices per minimum unit. Where a
name has a second winner (as several did when the pilot was extended to the alliance regions in
2019), the second winner and every non-winning product are illustrative: they give the simulator
the choices a province really has (another winner, an originator, a generic that has not passed
consistency evaluation), not a record of any company's results.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Maker:
    manufacturer_id: str
    name: str


@dataclass(frozen=True)
class Offer:
    """One product of a generic name: who makes it, at what strength and price."""

    maker: Maker
    strength: str
    price: Decimal
    winning: bool
    consistency_passed: bool = True
    reference_units: Decimal = Decimal(1)
    """Units of the generic name's reference strength in one minimum unit."""


@dataclass(frozen=True)
class Generic:
    seq: int
    """Position in the published list, used in the product codes (A001...A025)."""
    name: str
    atc: str
    """The first five characters of the ATC code, as the national drug code carries them."""
    unit: str
    pack: int
    """Minimum units per box: orders come in whole boxes."""
    weight: float
    """Relative yearly use at an institution that prescribes it (amlodipine = 1)."""
    tiers: frozenset[str]
    """Institution tiers that prescribe it (tertiary, secondary, primary, pharmacy)."""
    offers: tuple[Offer, ...]

    @property
    def winners(self) -> tuple[Offer, ...]:
        return tuple(o for o in self.offers if o.winning)


def _m(manufacturer_id: str, name: str) -> Maker:
    return Maker(manufacturer_id, name)


# Manufacturer ids: M + the GB/T 2260 code of the home province + a serial.
JIALIN = _m("M11000000328", "北京嘉林药业股份有限公司")
JINGXIN = _m("M33000000101", "浙江京新药业股份有限公司")
HUAHAI = _m("M33000000102", "浙江华海药业股份有限公司")
SALUBRIS = _m("M44000000201", "深圳信立泰药业股份有限公司")
CTTQ = _m("M32000000301", "正大天晴药业集团股份有限公司")
HANSOH = _m("M32000000302", "江苏豪森药业集团有限公司")
YANGTZE = _m("M32000000303", "扬子江药业集团有限公司")
SIMCERE = _m("M32000000304", "先声药业有限公司")
ASTRAZENECA = _m("M32000000305", "阿斯利康制药有限公司")
KELUN = _m("M51000000401", "四川科伦药业股份有限公司")
BRILLIANT = _m("M51000000402", "成都倍特药业有限公司")
HAISCO = _m("M51000000403", "四川海思科制药有限公司")
BMS = _m("M31000000501", "中美上海施贵宝制药有限公司")
QILU = _m("M37000000601", "齐鲁制药有限公司")
PURI = _m("M46000000701", "海南普利制药股份有限公司")
# Originators and other bidders (illustrative non-winning or second-winner products).
PFIZER = _m("M21000000801", "辉瑞制药有限公司")
SANOFI = _m("M33000000802", "赛诺菲(杭州)制药有限公司")
MSD = _m("M32000000803", "杭州默沙东制药有限公司")
GSK = _m("M44000000804", "中美天津史克制药有限公司")
LILLY = _m("M32000000805", "礼来苏州制药有限公司")
XIAN_JANSSEN = _m("M61000000806", "西安杨森制药有限公司")
QIANYAO = _m("M52000000901", "贵州百灵企业集团制药股份有限公司")
XINHUA = _m("M52000000902", "贵州信邦制药股份有限公司")
SHIYAO = _m("M13000000903", "石药集团欧意药业有限公司")
CSPC_ZHONGNUO = _m("M13000000904", "石药集团中诺药业(石家庄)有限公司")
LUYE = _m("M37000000905", "绿叶制药集团有限公司")

_D = Decimal
_ALL_TIERS = frozenset({"tertiary", "secondary", "primary", "pharmacy"})
_HOSPITALS = frozenset({"tertiary", "secondary"})
_CHRONIC = frozenset({"tertiary", "secondary", "primary", "pharmacy"})
_SPECIALIST = frozenset({"tertiary"})


def _g(seq: int, name: str, atc: str, unit: str, pack: int, weight: float, tiers: frozenset[str],
       *offers: Offer) -> Generic:
    return Generic(seq, name, atc, unit, pack, weight, tiers, offers)


def _o(maker: Maker, strength: str, price: str, winning: bool = False, passed: bool = True,
       ref: str = "1") -> Offer:
    return Offer(maker, strength, _D(price), winning, passed, _D(ref))


GENERICS: tuple[Generic, ...] = (
    _g(1, "阿托伐他汀钙片", "C10AA", "片", 28, 0.9, _CHRONIC,
       _o(JIALIN, "20mg", "0.94", True, ref="2"), _o(PFIZER, "20mg", "6.60", ref="2"),
       _o(XINHUA, "10mg", "1.85", passed=False)),
    _g(2, "瑞舒伐他汀钙片", "C10AA", "片", 28, 0.6, _CHRONIC,
       _o(JINGXIN, "10mg", "0.78", True), _o(ASTRAZENECA, "10mg", "4.20")),
    _g(3, "硫酸氢氯吡格雷片", "B01AC", "片", 7, 0.5, _HOSPITALS | {"primary"},
       _o(SALUBRIS, "75mg", "3.18", True), _o(SANOFI, "75mg", "15.70")),
    _g(4, "厄贝沙坦片", "C09CA", "片", 28, 0.7, _CHRONIC,
       _o(HUAHAI, "75mg", "0.20", True), _o(SANOFI, "150mg", "3.50", ref="2")),
    _g(5, "苯磺酸氨氯地平片", "C08CA", "片", 28, 1.0, _CHRONIC,
       _o(JINGXIN, "5mg", "0.15", True), _o(SHIYAO, "5mg", "0.18", True),
       _o(PFIZER, "5mg", "4.60"), _o(QIANYAO, "5mg", "0.60", passed=False)),
    _g(6, "恩替卡韦分散片", "J05AF", "片", 28, 0.35, _HOSPITALS | {"pharmacy"},
       _o(CTTQ, "0.5mg", "0.62", True), _o(BMS, "0.5mg", "10.00")),
    _g(7, "草酸艾司西酞普兰片", "N06AB", "片", 14, 0.15, _HOSPITALS,
       _o(KELUN, "10mg", "4.20", True), _o(XIAN_JANSSEN, "10mg", "7.80")),
    _g(8, "盐酸帕罗西汀片", "N06AB", "片", 10, 0.12, _HOSPITALS,
       _o(HUAHAI, "20mg", "1.67", True), _o(GSK, "20mg", "4.00")),
    _g(9, "奥氮平片", "N05AH", "片", 14, 0.1, _HOSPITALS,
       _o(HANSOH, "10mg", "9.64", True), _o(LILLY, "10mg", "22.00")),
    _g(10, "头孢呋辛酯片", "J01DC", "片", 12, 0.4, _ALL_TIERS,
       _o(BRILLIANT, "0.25g", "0.51", True), _o(GSK, "0.25g", "3.20")),
    _g(11, "利培酮片", "N05AX", "片", 20, 0.1, _HOSPITALS,
       _o(HUAHAI, "1mg", "0.17", True), _o(XIAN_JANSSEN, "1mg", "2.40")),
    _g(12, "吉非替尼片", "L01XE", "片", 10, 0.01, _SPECIALIST,
       _o(ASTRAZENECA, "0.25g", "54.70", True), _o(QILU, "0.25g", "68.00")),
    _g(13, "福辛普利钠片", "C09AA", "片", 14, 0.2, _HOSPITALS | {"primary"},
       _o(BMS, "10mg", "0.84", True), _o(QIANYAO, "10mg", "1.20", passed=False)),
    _g(14, "厄贝沙坦氢氯噻嗪片", "C09DA", "片", 14, 0.25, _HOSPITALS,
       _o(HUAHAI, "150mg/12.5mg", "0.96", True), _o(SANOFI, "150mg/12.5mg", "4.10")),
    _g(15, "赖诺普利片", "C09AA", "片", 28, 0.15, _HOSPITALS | {"primary"},
       _o(HUAHAI, "10mg", "0.29", True), _o(MSD, "10mg", "1.90")),
    _g(16, "富马酸替诺福韦二吡呋酯片", "J05AF", "片", 30, 0.2, _HOSPITALS,
       _o(BRILLIANT, "300mg", "0.59", True), _o(GSK, "300mg", "15.00")),
    _g(17, "氯沙坦钾片", "C09CA", "片", 14, 0.35, _CHRONIC,
       _o(HUAHAI, "50mg", "1.03", True), _o(MSD, "50mg", "3.90")),
    _g(18, "马来酸依那普利片", "C09AA", "片", 16, 0.3, _CHRONIC,
       _o(YANGTZE, "10mg", "0.56", True), _o(MSD, "10mg", "1.30")),
    _g(19, "左乙拉西坦片", "N03AX", "片", 30, 0.12, _HOSPITALS,
       _o(JINGXIN, "0.25g", "1.76", True), _o(CSPC_ZHONGNUO, "0.25g", "2.50", passed=False)),
    _g(20, "甲磺酸伊马替尼片", "L01XE", "片", 60, 0.01, _SPECIALIST,
       _o(HANSOH, "0.1g", "10.40", True), _o(CTTQ, "0.1g", "12.00")),
    _g(21, "孟鲁司特钠片", "R03DC", "片", 5, 0.3, _CHRONIC,
       _o(HAISCO, "10mg", "3.88", True), _o(MSD, "10mg", "5.90")),
    _g(22, "蒙脱石散", "A07BC", "袋", 10, 0.45, _ALL_TIERS,
       _o(SIMCERE, "3g", "0.70", True), _o(QIANYAO, "3g", "1.10", passed=False)),
    _g(23, "注射用培美曲塞二钠", "L01BA", "支", 1, 0.004, _SPECIALIST,
       _o(QILU, "0.1g", "810.00", True), _o(HANSOH, "0.1g", "1150.00")),
    _g(24, "盐酸右美托咪定注射液", "N05CM", "支", 5, 0.02, _HOSPITALS,
       _o(YANGTZE, "2ml:0.2mg", "132.00", True), _o(LUYE, "2ml:0.2mg", "198.00")),
    _g(25, "地氯雷他定片", "R06AX", "片", 6, 0.2, _CHRONIC,
       _o(PURI, "5mg", "0.15", True), _o(SHIYAO, "5mg", "1.60", passed=False)),
)

GENERIC_BY_NAME = {g.name: g for g in GENERICS}

# 苯磺酸氨氯地平片 has two winners and an originator: its first winner's production stop is the
# scenario's supply fault, with an alternative inside the province.
STOPPED_GENERIC = "苯磺酸氨氯地平片"
# The product whose manufacturer reports falling stock month after month.
FALLING_STOCK_GENERIC = "头孢呋辛酯片"


def product_code(generic: Generic, offer: Offer) -> str:
    """A 23-character national drug code laid out like the real ones: X + ATC (5) + A + name
    serial (3) + A + dosage-form/strength serial (3) + 0101 + manufacturer serial (5)."""
    strength_serial = 1 + [o.strength for o in generic.offers].index(offer.strength)
    code = (f"X{generic.atc}A{generic.seq:03d}A{strength_serial:03d}0101"
            f"{offer.maker.manufacturer_id[-5:]}")
    assert len(code) == 23, code
    return code


# Alliance partners' winners of the stopped generic (vbp.alliance.inbound), offered as
# alternatives when it cannot be supplied in the province (002 §四(六)).
ALLIANCE_PARTNERS: tuple[tuple[str, Maker, str, str], ...] = (
    ("500000", _m("M50000000911", "重庆药友制药有限责任公司"), "5mg", "0.16"),
    ("530000", _m("M53000000912", "昆明积大制药股份有限公司"), "5mg", "0.17"),
)
