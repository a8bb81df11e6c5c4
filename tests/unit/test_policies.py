"""Policy profiles: loading, validation, and the key numbers with the clauses they come from.

Clause references read ``000 §五(三)`` (seed file prefix, then the document's own numbering).
Where a test checks a number, it also checks the number's wording in the seed text itself,
so a profile cannot drift from its document unnoticed.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from policies import PROFILE_NAMES, POLICY_DIR, PolicyError, load_profile
from schemas.policy import REF_PATTERN, Clause, PolicyProfile

SEEDS = Path("/work/shared/seeds")
SEED_FILES = {
    "000": "000_aa5286d8d75c4893.txt",
    "001": "001_9f3f38a2952ba61f.txt",
    "002": "002_3c5a648ff86e2632.txt",
    "003": "003_08305aa55c5b313c.txt",
    "004": "004_8c7d6a0cb14d2844.txt",
}
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="seed documents not available")

_CN = "一二三四五六七八九十"


# --------------------------------------------------------------------------- seed text helpers


def _seed_lines(seed: str) -> list[str]:
    text = (SEEDS / SEED_FILES[seed]).read_text(encoding="utf-8")
    text = text.replace("（", "(").replace("）", ")")
    return [ln.strip().lstrip("#").strip().strip("*").strip() for ln in text.splitlines()]


def _find(lines: list[str], start: int, stop: int, head: re.Pattern[str], boundary: re.Pattern[str]) -> tuple[int, int]:
    for i in range(start, stop):
        if head.match(lines[i]):
            for j in range(i + 1, stop):
                if boundary.match(lines[j]):
                    return i, j
            return i, stop
    raise LookupError(head.pattern)


def clause_text(seed: str, part: str) -> str:
    """Text of one clause (``§五(三)``, ``§三(一)3``) of a seed, whitespace removed."""
    m = re.fullmatch(rf"§([{_CN}]+)(?:\(([{_CN}]+)\))?(\d+)?", part)
    assert m, part
    top, sub, item = m.groups()
    lines = _seed_lines(seed)
    lo, hi = _find(lines, 0, len(lines), re.compile(rf"^{top}、"), re.compile(rf"^[{_CN}]+、"))
    if sub:
        lo, hi = _find(lines, lo, hi, re.compile(rf"^\({sub}\)"), re.compile(rf"^\([{_CN}]+\)"))
    if item:
        lo, hi = _find(lines, lo, hi, re.compile(rf"^{item}[.．]"), re.compile(r"^\d+[.．]"))
    return _norm("".join(lines[lo:hi]))


def _norm(text: str) -> str:
    """Drop whitespace (line breaks split words in the seeds) and fold full-width punctuation."""
    text = re.sub(r"\s+", "", text)
    return text.translate(str.maketrans("（）％，；：", "()%,;:"))


def in_clause(seed: str, part: str, phrase: str) -> bool:
    return _norm(phrase) in clause_text(seed, part)


def ref_text(ref: str) -> str:
    seed, rest = ref.split(" ", 1)
    return "".join(clause_text(seed, p) for p in rest.split(", ") if p.startswith("§"))


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_all_five_profiles_load(name: str) -> None:
    """Each jurisdiction's profile loads and matches its seed: 000 Guizhou .. 004 Shanxi."""
    p = load_profile(name)
    assert p.name == name
    assert p.calendar == "cn_workdays"
    expected = {
        "guizhou": ("520000", "000", "黔医保发〔2019〕69号"),
        "chongqing": ("500000", "001", "渝府办发〔2019〕29号"),
        "yunnan": ("530000", "002", "云医保〔2020〕71号"),
        "xian": ("610100", "003", "市政办发〔2019〕13号"),
        "shanxi": ("140000", "004", "晋政办发〔2021〕45号"),
    }[name]
    assert (p.region_code, p.seed, p.document) == expected


def test_profile_names_and_files_agree() -> None:
    assert set(PROFILE_NAMES) == {f.stem for f in POLICY_DIR.glob("*.toml")}


def test_load_by_path_equals_load_by_name() -> None:
    assert load_profile(str(POLICY_DIR / "shanxi.toml")) == load_profile("shanxi")


def test_in_force_dates_and_their_clauses() -> None:
    """000 §四(三) 2019-12-30; 001 文末 2019-03-20; 002 文末 on issue (no date in seed); 003 §四(四) 2019-03-25; 004 落款."""
    got = {n: (load_profile(n).in_force_from.value, load_profile(n).in_force_from.ref) for n in PROFILE_NAMES}
    assert got == {
        "guizhou": (date(2019, 12, 30), "000 §四(三)"),
        "chongqing": (date(2019, 3, 20), "001 文末"),
        "yunnan": (None, "002 文末"),
        "xian": (date(2019, 3, 25), "003 §四(四)"),
        "shanxi": (date(2021, 5, 14), "004 落款"),
    }


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_clause_has_provenance(name: str) -> None:
    """Document values cite their own seed; bureau settings say the documents are silent; silence has a note."""
    p = load_profile(name)
    for path, c in p.clauses():
        if c.ref is not None:
            assert REF_PATTERN.match(c.ref) and c.ref.startswith(p.seed + " "), (path, c.ref)
        if c.source == "bureau":
            assert c.value is not None and "silent" in (c.note or "").lower(), path
        elif c.value is None:
            assert c.note, path
        else:
            assert c.ref, path


@needs_seeds
@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_ref_names_a_clause_that_exists_in_the_seed(name: str) -> None:
    """Every §-reference resolves to a heading of the document's own numbering."""
    p = load_profile(name)
    for path, c in p.clauses():
        if c.ref:
            assert ref_text(c.ref) or "§" not in c.ref, (path, c.ref)


# --------------------------------------------------------------------------- Guizhou numbers


@needs_seeds
def test_guizhou_quarterly_bands_080_070__000_s5_3() -> None:
    """000 §五(三): quarterly completion < 80 % warns; < 70 % suspends monthly settlement from the
    next month until cumulative purchases catch up."""
    q = load_profile("guizhou").quota
    assert q.quarterly_warn_below.value == 0.80 and q.quarterly_warn_below.ref == "000 §五(三)"
    assert q.quarterly_suspend_below.value == 0.70 and q.quarterly_suspend_below.ref == "000 §五(三)"
    assert q.suspension_effective.value == "next_month"
    assert q.catch_up_resumes.value is True
    assert q.grace_days.value == 0 and q.grace_days.source == "bureau"
    for phrase in ("低于80%的定点医疗机构提出预警", "低于70%的定点医疗机构，自次月起暂停医保月结算", "完成累计采购及使用量后恢复月结算"):
        assert in_clause("000", "§五(三)", phrase)


@needs_seeds
def test_guizhou_payment_30_days_and_10_working_day_chain__000_s5_3() -> None:
    """000 §五(三): pay within 30 days of accepted delivery; unpaid 10 working days after the warning
    -> disbursement withheld."""
    s = load_profile("guizhou").settlement
    dl = s.payment_deadline.value
    assert dl is not None and dl.kind == "days_after_acceptance" and dl.days == 30
    assert dl.due_date(date(2020, 1, 31)) == date(2020, 3, 1)
    assert s.overdue_warning.value is True
    assert s.overdue_suspend_after_working_days.value == 10
    assert s.overdue_suspend_after_working_days.ref == "000 §五(三)"
    assert in_clause("000", "§五(三)", "从收货验收合格到付款不得超过30天")
    assert in_clause("000", "§五(三)", "预警后10个工作日内仍不回款的，暂缓拨付")


@needs_seeds
def test_guizhou_prepayment_30pct_of_prior_year_monthly_average__000_s5_3() -> None:
    """000 §五(三): 30 % of last year's average monthly fund disbursement, paid in January."""
    pre = load_profile("guizhou").settlement.prepayment
    assert pre.ref == "000 §五(三)"
    assert pre.value is not None and pre.value.kind == "share_of_prior_year_monthly_disbursement"
    assert pre.value.share == 0.30 and pre.value.at_least is False and pre.value.annual_payment_month == 1
    assert in_clause("000", "§五(三)", "上年度月均拨付医保基金的30%预付")


@needs_seeds
def test_guizhou_non_winning_ratio_and_consistency_gate__000_s5_1() -> None:
    """000 §五(一): non-winning quantity may not exceed the winning one; 3 or more passed manufacturers
    (以上 includes 3) may suspend platform trading of non-passed generics."""
    p = load_profile("guizhou")
    assert p.quota.non_winning_max_ratio.value == 1.0 and p.quota.non_winning_max_ratio.ref == "000 §五(一)"
    gate = p.supply.consistency_gate.value
    assert gate is not None and p.supply.consistency_gate.ref == "000 §五(一)"
    assert (gate.passed_count, gate.comparison, gate.action) == (3, ">=", "suspend_platform_trading")
    assert not gate.triggered(2) and gate.triggered(3)
    assert in_clause("000", "§五(一)", "采购数量不得超过中选药品的采购量")
    assert in_clause("000", "§五(一)", "通过一致性评价的生产企业达到3家以上的")


def test_guizhou_cycle_and_year_end__000_s4_3_s5_5() -> None:
    """000 §四(三): 1-3 winners -> 1-3 years, +1 year, yearly agreements; 000 §五(五): budget cut."""
    q = load_profile("guizhou").quota
    assert q.cycle_years.value is not None and q.cycle_years.value.years_for(2) == (1, 3)
    assert q.cycle_years.value.extension_years == 1
    assert q.year_end_budget_reduction.value is True and q.year_end_budget_reduction.ref == "000 §五(五)"


# --------------------------------------------------------------------------- Shanxi numbers


@needs_seeds
def test_shanxi_payment_by_end_of_following_month_and_30pct_prepayment__004_s5_4() -> None:
    """004 §五(四): settle by the end of the month after accepted delivery; prepay >= 30 % of the
    annual agreed amount."""
    s = load_profile("shanxi").settlement
    dl = s.payment_deadline.value
    assert dl is not None and dl.kind == "end_of_following_month" and s.payment_deadline.ref == "004 §五(四)"
    assert dl.due_date(date(2021, 1, 15)) == date(2021, 2, 28)
    assert dl.due_date(date(2020, 1, 31)) == date(2020, 2, 29)
    assert dl.due_date(date(2021, 12, 5)) == date(2022, 1, 31)
    pre = s.prepayment.value
    assert pre is not None and pre.kind == "share_of_annual_contract_amount"
    assert pre.share == 0.30 and pre.at_least is True
    assert s.overdue_suspend_after_working_days.value is None  # no Guizhou chain borrowed
    assert in_clause("004", "§五(四)", "结清时间不得超过交货验收合格后的次月底")
    assert in_clause("004", "§五(四)", "不低于年度约定采购金额的30%")


@needs_seeds
def test_shanxi_agreed_share_and_cycle__004_s3_1_s5_1() -> None:
    """004 §三(一): 50-80 % of annual use; 004 §五(一): 1 winner 1 year, 2-3 winners 2 years, +1."""
    q = load_profile("shanxi").quota
    share = q.agreed_share_of_prior_use.value
    assert share is not None and (share.min, share.max) == (0.50, 0.80)
    cyc = q.cycle_years.value
    assert cyc is not None and q.cycle_years.ref == "004 §五(一)"
    assert [cyc.years_for(n) for n in (1, 2, 3, 4)] == [(1, 1), (2, 2), (2, 2), None]
    assert cyc.extension_years == 1
    assert in_clause("004", "§三(一)", "年度总用量的50%-80%")
    assert in_clause("004", "§五(一)", "中选企业为2家或3家的品种，集中带量采购协议周期为2年")


@needs_seeds
def test_shanxi_consistency_gate_more_than_3__004_s4_1_1() -> None:
    """004 §四(一)1: more than 3 (超过3个) passed generics -> non-passed products no longer selected."""
    c = load_profile("shanxi").supply.consistency_gate
    gate = c.value
    assert gate is not None and c.ref == "004 §四(一)1"
    assert (gate.passed_count, gate.comparison) == (3, ">")
    assert gate.action == "exclude_from_vbp_selection"
    assert not gate.triggered(3) and gate.triggered(4)
    assert in_clause("004", "§四(一)1", "通过一致性评价的仿制药数量超过3个的")


def test_shanxi_non_passed_standard_cap__004_s5_6() -> None:
    """004 §五(六): non-passed generics' payment standard may not exceed passed ones'."""
    ps = load_profile("shanxi").settlement.payment_standard
    assert ps.non_passed_not_above_passed.value is True and ps.non_passed_not_above_passed.ref == "004 §五(六)"
    assert ps.winning_price_is_standard.value is True


# --------------------------------------------------------------------------- other jurisdictions


@needs_seeds
def test_chongqing_share_ratio_prepayment__001_s2_2_s2_6_s2_7() -> None:
    """001 §二(二) 60-70 % and 折算 ratio 1; 001 §二(七) prepay >= 50 %; 001 §二(六) no distributor threshold."""
    p = load_profile("chongqing")
    share = p.quota.agreed_share_of_prior_use.value
    assert share is not None and (share.min, share.max) == (0.60, 0.70)
    assert p.quota.non_winning_max_ratio.value == 1.0
    pre = p.settlement.prepayment.value
    assert pre is not None and pre.kind == "share_of_purchase_amount" and pre.share == 0.50 and pre.at_least
    assert p.supply.distributor_limit.value is None and p.supply.distributor_limit.ref == "001 §二(六)"
    assert in_clause("001", "§二(二)", "总用量的60%—70%")
    assert in_clause("001", "§二(七)", "不低于采购金额的50%")
    assert in_clause("001", "§二(六)", "不得设置配送门槛")


@needs_seeds
def test_yunnan_distributors_prepayment_exclusions__002_s4_4_s4_6() -> None:
    """002 §四(六): at most 3 distributors (含3家), monthly manufacturer reports; 002 §四(四): >= 30 %
    prepayment, none for private institutions and pharmacies, pharmacy markup allowed."""
    p = load_profile("yunnan")
    assert p.supply.distributor_limit.value == 3 and p.supply.distributor_limit.ref == "002 §四(六)"
    assert p.supply.monthly_report_required.value is True and p.supply.monthly_report_required.source == "document"
    assert p.supply.monthly_report_due_day.source == "bureau"
    pre = p.settlement.prepayment.value
    assert pre is not None and pre.share == 0.30 and pre.at_least and pre.continues_after_agreed_met
    assert p.settlement.prepayment_excluded_kinds.value == ["private", "pharmacy"]
    assert p.settlement.payment_standard.pharmacy_markup_allowed.value is True
    assert in_clause("002", "§四(六)", "不超过3家(含3家)")
    assert in_clause("002", "§四(四)", "医保基金暂不预付")


@needs_seeds
def test_xian_prepayment_tranches_and_report_day__003_s3_3_1_s5_4() -> None:
    """003 §三(三)1: 50 % up front, 40 % more at half the agreed volume; 003 §五(四): report by the 25th."""
    p = load_profile("xian")
    pre = p.settlement.prepayment.value
    assert pre is not None and pre.kind == "tranches"
    assert [(t.share, t.trigger, t.at_share) for t in pre.tranches] == [
        (0.50, "period_start", None),
        (0.40, "agreed_quantity_share", 0.50),
    ]
    assert p.reporting.progress_report_due_day.value == 25
    assert p.quota.non_winning_allowed_after.value == "monthly_agreed_met"
    assert p.supply.production_stop_min_level.value == "national"
    assert in_clause("003", "§三(三)1", "约定采购金额的50%预付周转金，采购量达到协议约定采购量50%后，向医疗机构再预付40%")
    assert in_clause("003", "§五(四)", "每月25日前")


@pytest.mark.parametrize("name", ["chongqing", "yunnan", "xian", "shanxi"])
def test_guizhou_numbers_are_not_borrowed(name: str) -> None:
    """Quarterly bands and the 10-working-day chain are 000 §五(三) only; the others are silent."""
    p = load_profile(name)
    assert p.quota.quarterly_warn_below.value is None
    assert p.quota.quarterly_suspend_below.value is None
    assert p.settlement.overdue_suspend_after_working_days.value is None
    assert p.quota.quarterly_warn_below.note


@pytest.mark.parametrize("name", ["chongqing", "yunnan", "xian"])
def test_timely_payment_has_no_number(name: str) -> None:
    """001 §二(七), 002 §四(四), 003 §三(三)2 say 及时结算 without a number of days."""
    assert load_profile(name).settlement.payment_deadline.value is None


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_counts_ordered_and_bureau_supply_settings(name: str) -> None:
    """The five seed profiles count ordered quantities (contract); inventory cover is a bureau setting."""
    p = load_profile(name)
    assert p.quota.counts.value == "ordered"
    for c in (p.supply.low_inventory_cover_months, p.supply.critical_cover_months, p.supply.delivery_window_days):
        assert c.source == "bureau" and "silent" in (c.note or "").lower()
    assert p.supply.critical_cover_months.value <= p.supply.low_inventory_cover_months.value


# --------------------------------------------------------------------------- refusals


def _variant(tmp_path: Path, old: str, new: str, base: str = "guizhou") -> Path:
    text = (POLICY_DIR / f"{base}.toml").read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    out = tmp_path / f"{base}-variant.toml"
    out.write_text(text.replace(old, new), encoding="utf-8")
    return out


def _refused(path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_profile(str(path))
    assert str(path) in str(info.value)
    return info.value


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, 'calendar = "cn_workdays"\n', 'calendar = "cn_workdays"\nwarn_level = 1\n'))
    assert err.key == "warn_level" and "unknown key" in str(err)


def test_unknown_parameter_is_refused(tmp_path: Path) -> None:
    """A misspelt parameter (quarterly_warn_belw) is an error, not a silently ignored setting."""
    err = _refused(_variant(tmp_path, "[quota.quarterly_warn_below]", "[quota.quarterly_warn_belw]"))
    assert "quota.quarterly_warn_belw" in str(err)


def test_unknown_key_inside_a_clause_is_refused(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, "value = 0.80\n", "value = 0.80\nvalu = 0.8\n"))
    assert err.key == "quota.quarterly_warn_below.valu"


def test_unknown_key_inside_a_value_object_is_refused(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, 'kind = "days_after_acceptance", days = 30', 'kind = "days_after_acceptance", days = 30, hours = 4'))
    assert err.key is not None and err.key.startswith("settlement.payment_deadline.value") and err.key.endswith("hours")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("value = 0.80\n", "value = 80\n", "quota.quarterly_warn_below.value"),  # percent, not fraction
        ("value = 0.80\n", "value = 0.0\n", "quota.quarterly_warn_below.value"),
        ("value = 0.70\n", "value = 1.5\n", "quota.quarterly_suspend_below.value"),
        ("value = 0.80\n", 'value = "0.80"\n', "quota.quarterly_warn_below.value"),  # no string coercion
        ("value = 10\nref", "value = -1\nref", "settlement.overdue_suspend_after_working_days.value"),
        ("value = 0\nsource", "value = -3\nsource", "quota.grace_days.value"),
        ("days = 30", "days = 0", "settlement.payment_deadline.value.days_after_acceptance.days"),
        ("share = 0.30", "share = 30", "settlement.prepayment.value.share_of_prior_year_monthly_disbursement.share"),
        ('value = "next_month"', 'value = "next_quarter"', "quota.suspension_effective.value"),
        ("value = 1.0\nref = \"000 §五(一)\"", "value = -1.0\nref = \"000 §五(一)\"", "quota.non_winning_max_ratio.value"),
    ],
)
def test_impossible_values_are_refused_with_the_key_named(tmp_path: Path, old: str, new: str, key: str) -> None:
    err = _refused(_variant(tmp_path, old, new))
    assert err.key == key, str(err)
    assert key in str(err)


def test_warn_below_suspend_is_refused(tmp_path: Path) -> None:
    """000 §五(三) bands: warning (80 %) must sit at or above suspension (70 %)."""
    err = _refused(_variant(tmp_path, "value = 0.80\n", "value = 0.60\n"))
    assert "quota.quarterly_warn_below" in str(err) and "quota.quarterly_suspend_below" in str(err)


def test_critical_cover_above_low_cover_is_refused(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, "value = 0.5\n", "value = 2.0\n"))
    assert "supply.critical_cover_months" in str(err)


def test_ref_into_another_seed_is_refused(tmp_path: Path) -> None:
    """Never borrow another jurisdiction's number: a Guizhou value citing 004 is an error."""
    err = _refused(_variant(tmp_path, 'ref = "000 §五(一)"\nnote = "The text compares', 'ref = "004 §五(一)"\nnote = "The text compares'))
    assert "quota.non_winning_max_ratio.ref" in str(err)


def test_malformed_ref_is_refused(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, 'value = "monthly"\nref = "000 §六(一)"', 'value = "monthly"\nref = "section 6"'))
    assert err.key == "reporting.upward_progress_report"


def test_bureau_setting_needs_a_silence_note(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, 'note = "Documents silent on a due day; bureau setting."', 'note = "bureau choice"'))
    assert err.key == "supply.monthly_report_due_day"


def test_document_value_needs_a_ref(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, 'value = 10\nref = "000 §五(三)"\n', "value = 10\n"))
    assert err.key == "settlement.overdue_suspend_after_working_days"


def test_overdue_chain_without_deadline_is_refused(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        '[settlement.payment_deadline]\n# "原则上从收货验收合格到付款不得超过30天"\nvalue = { kind = "days_after_acceptance", days = 30 }\n',
        "[settlement.payment_deadline]\n",
    )
    text = path.read_text(encoding="utf-8").replace(
        '[settlement.payment_deadline]\nref = "000 §五(三)"', '[settlement.payment_deadline]\nref = "000 §五(三)"\nnote = "x"'
    )
    path.write_text(text, encoding="utf-8")
    err = _refused(path)
    assert "settlement.payment_deadline" in str(err)


def test_identity_mismatch_is_refused(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, 'region_code = "520000"', 'region_code = "530000"'))
    assert "region_code" in str(err)


def test_prepayment_tranches_over_100pct_refused(tmp_path: Path) -> None:
    """003 §三(三)1 tranches add up to 90 %; more than the whole amount is impossible."""
    err = _refused(_variant(tmp_path, "{ share = 0.40,", "{ share = 0.60,", base="xian"))
    assert err.key is not None and err.key.startswith("settlement.prepayment.value")


def test_zero_distributor_limit_refused(tmp_path: Path) -> None:
    err = _refused(_variant(tmp_path, "value = 3\nref = \"002 §四(六)\"", "value = 0\nref = \"002 §四(六)\"", base="yunnan"))
    assert err.key == "supply.distributor_limit.value"


def test_bad_toml_and_missing_file_and_unknown_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    assert "not valid TOML" in str(_refused(bad))
    assert "file not found" in str(_refused(tmp_path / "missing.toml"))
    with pytest.raises(PolicyError, match="unknown policy profile 'hubei'"):
        load_profile("hubei")


def test_all_problems_are_listed(tmp_path: Path) -> None:
    path = _variant(tmp_path, "value = 0.80\n", "value = 80\n")
    text = path.read_text(encoding="utf-8").replace("value = 0.70\n", "value = 70\n")
    path.write_text(text, encoding="utf-8")
    err = _refused(path)
    keys = [k for k, _ in err.problems]
    assert "quota.quarterly_warn_below.value" in keys and "quota.quarterly_suspend_below.value" in keys


def test_model_validate_direct_refuses_extra_keys() -> None:
    raw = tomllib.loads((POLICY_DIR / "shanxi.toml").read_text(encoding="utf-8"))
    raw["supply"]["distributor_limit"]["limit"] = 3
    with pytest.raises(ValidationError):
        PolicyProfile.model_validate(raw)


def test_clause_rules_in_isolation() -> None:
    assert Clause[int](value=None, note="Document silent.").value is None
    with pytest.raises(ValidationError):
        Clause[int](value=None)  # silence must be explained
    with pytest.raises(ValidationError):
        Clause[int](value=5, source="bureau", note="we like 5")  # bureau without 'silent'
    with pytest.raises(ValidationError):
        Clause[int](value=None, source="bureau", note="Documents silent.")  # bureau with no value


def test_profiles_are_immutable() -> None:
    p = load_profile("guizhou")
    with pytest.raises(ValidationError):
        p.quota.quarterly_warn_below.value = 0.5  # type: ignore[misc]
