"""Settlement accounts, records, reports and the payment-standard lookup, read as the policy.

000 §五(三) "从收货验收合格到付款不得超过30天"; 003 §三(三)1 "采购量达到协议约定采购量50%后，向
医疗机构再预付40%的货款 ... 协议供货期结束后，根据中选品种实际使用数量进行清算结账";
004 §五(六) "对未通过一致性评价的仿制药，医保支付标准不得高于同通用名下已通过一致性评价的药品".
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from policies import load_profile
from schemas.outputs import WarningRaised
from services.settlement import accounts, notices, records, standard
from services.settlement.ledger import Payable, Payment, PrepaymentReconciliation
from tests.events import event

GZ, YN, XA, SX = (load_profile(n) for n in ("guizhou", "yunnan", "xian", "shanxi"))
INST = "H52010200001"
SUPPLIER = "D52000000001"


def payable(delivery_id: str, amount: str, accepted_on: date = date(2020, 3, 1)) -> Payable:
    return Payable(delivery_id, INST, Decimal(amount), accepted_on, SUPPLIER)


def pay(payment_id: str, amount: str, paid_on: date, *delivery_ids: str,
        payee_id: str = SUPPLIER) -> Payment:
    return Payment(payment_id, INST, payee_id, delivery_ids, Decimal(amount), paid_on)


# accounts.settle ----------------------------------------------------------------------------


def test_payments_apply_in_the_order_they_were_made_not_the_order_they_were_read() -> None:
    payables = {"D1": payable("D1", "100")}
    late_read = [pay("P2", "60", date(2020, 3, 5), "D1"), pay("P1", "60", date(2020, 3, 4), "D1")]
    one, two = accounts.settle(payables, late_read), accounts.settle(payables, late_read[::-1])
    assert one == two
    assert one.applied == {"P1": Decimal(60), "P2": Decimal(40)}
    assert [(a.kind, a.amount) for a in one.anomalies["P2"]] == [("overpayment", Decimal(20))]
    assert one.settled_on == {"D1": date(2020, 3, 5)}


def test_a_payment_naming_a_delivery_not_yet_known_pays_it_once_it_is_known() -> None:
    payment = pay("P1", "100", date(2020, 3, 4), "D1")
    before = accounts.settle({}, [payment])
    assert [a.kind for a in before.anomalies["P1"]] == ["unknown_delivery", "overpayment"]
    after = accounts.settle({"D1": payable("D1", "100")}, [payment])
    assert after.anomalies == {} and after.payables["D1"].settled


def test_a_tick_sees_only_payments_made_before_its_day() -> None:
    """Contract: a tick as_of=D means every day before D has ended; a payment of day D is not
    yet seen on the tick of D."""
    payments = [pay("P1", "100", date(2020, 4, 5), "D1")]
    assert not accounts.settle({"D1": payable("D1", "100")}, payments, before=date(2020, 4, 5)
                               ).payables["D1"].settled
    assert accounts.settle({"D1": payable("D1", "100")}, payments, before=date(2020, 4, 6)
                           ).payables["D1"].settled


def test_status_and_days_outstanding_follow_the_due_date() -> None:  # 000 §五(三)
    p = payable("D1", "100", date(2020, 3, 5))
    due = date(2020, 4, 4)
    assert accounts.status(p, due, date(2020, 4, 4)) == "open"
    assert accounts.status(p, due, date(2020, 4, 5)) == "overdue"
    assert accounts.status(p, None, date(2030, 1, 1)) == "open"  # "及时结算": never overdue
    assert accounts.days_outstanding(p, None, date(2020, 4, 5)) == 31
    paid = Payable("D1", INST, Decimal(100), date(2020, 3, 5), None, Decimal(100))
    assert accounts.status(paid, due, date(2020, 5, 1)) == "paid"
    assert accounts.days_outstanding(paid, date(2020, 3, 25), date(2020, 5, 1)) == 20


def test_the_overdue_ranking_puts_the_most_owed_first_and_leaves_out_the_punctual() -> None:
    summaries = [
        {"institution_id": "H1", "overdue_outstanding": "100.0000", "max_days_overdue": 3},
        {"institution_id": "H2", "overdue_outstanding": "900.5000", "max_days_overdue": 1},
        {"institution_id": "H3", "overdue_outstanding": "100.0000", "max_days_overdue": 9},
        {"institution_id": "H4", "overdue_outstanding": "0", "max_days_overdue": 0},
    ]
    ranked = accounts.overdue_ranking(summaries)
    assert [(r["rank"], r["institution_id"]) for r in ranked] == [(1, "H2"), (2, "H3"), (3, "H1")]


def test_money_is_formatted_without_exponents() -> None:
    assert accounts.fmt(Decimal("1E+3")) == "1000"
    assert accounts.fmt(Decimal("0.0000")) == "0.0000"


# quota progress (003 §三(三)1) -------------------------------------------------------------


def test_purchased_quantity_is_what_quota_reported_before_the_tick() -> None:
    q1 = accounts.with_progress(None, "AGR-1", "2020-Q1", date(2020, 3, 10), 30_000)
    q2 = accounts.with_progress(None, "AGR-1", "2020-Q2", date(2020, 5, 20), 49_999)
    q2 = accounts.with_progress(q2, "AGR-1", "2020-Q2", date(2020, 6, 1), 50_000)
    assert accounts.purchased_before([q1, q2], date(2020, 3, 10)) == 0
    assert accounts.purchased_before([q1, q2], date(2020, 6, 1)) == 49_999
    assert accounts.purchased_before([q1, q2], date(2020, 6, 2)) == 50_000


def test_the_latest_reading_of_a_day_replaces_the_earlier_ones() -> None:
    """A cancellation lowers quota's cumulative; the day's last reading counts."""
    q = accounts.with_progress(None, "AGR-1", "2020-Q1", date(2020, 3, 10), 500)
    q = accounts.with_progress(q, "AGR-1", "2020-Q1", date(2020, 3, 10), 400)
    assert accounts.purchased_before([q], date(2020, 3, 11)) == 400


def test_actual_purchases_are_accepted_amounts_in_the_period() -> None:
    deliveries = [
        {"accepted_on": "2019-12-31", "amount": "5.0000", "product_code": "X1"},
        {"accepted_on": "2020-01-01", "amount": "1.2500", "product_code": "X1"},
        {"accepted_on": "2020-12-31", "amount": "2.0000", "product_code": "X2"},
    ]
    year = (date(2020, 1, 1), date(2020, 12, 31))
    assert accounts.purchase_amount(deliveries, *year) == Decimal("3.25")
    assert accounts.purchase_amount(deliveries, *year, "X1") == Decimal("1.25")


# records ----------------------------------------------------------------------------------


def cloud(type_: str, id_: str, **changes: Any) -> Any:
    from schemas.envelope import CloudEvent

    return CloudEvent.from_json_bytes(event(type_, id_, "2020-03-01", **changes)[1])


def test_each_input_is_one_record_under_its_institution_and_id() -> None:
    key, record = records.record_of(cloud("vbp.delivery.accepted", "ev-1", delivery_id="D1"))  # type: ignore[misc]
    assert key == f"delivery:{INST}:D1"
    assert (record["event_id"], record["amount"]) == ("ev-1", "2820.0000")
    assert records.record_of(cloud("vbp.delivery.rejected", "ev-2")) is None


def test_money_already_recorded_is_never_rewritten_but_a_resend_is_the_same_fact() -> None:
    _, old = records.record_of(cloud("vbp.payment.made", "ev-1"))  # type: ignore[misc]
    _, resent = records.record_of(cloud("vbp.payment.made", "ev-9"))  # type: ignore[misc]
    _, changed = records.record_of(cloud("vbp.payment.made", "ev-2", amount="1.0000"))  # type: ignore[misc]
    assert records.conflict(old, resent) is None and records.same_fact(old, resent)
    reason = records.conflict(old, changed)
    assert reason is not None and "amount" in reason and "ev-1" in reason
    _, order = records.record_of(cloud("vbp.order.placed", "ev-3"))  # type: ignore[misc]
    _, amended = records.record_of(cloud("vbp.order.placed", "ev-4", quantity=1))  # type: ignore[misc]
    assert records.conflict(order, amended) is None  # orders only name the supplier


def test_the_supplier_is_the_orders_distributor_else_the_agreements_manufacturer() -> None:
    delivery = {"order_id": "O1", "institution_id": INST, "product_code": "X1",
                "accepted_on": "2020-03-01"}
    agreements = [{"agreement_id": "A-2019", "institution_id": INST, "product_code": "X1",
                   "period_start": "2019-01-01", "period_end": "2019-12-31",
                   "manufacturer_id": "M00000000019"},
                  {"agreement_id": "A-2020", "institution_id": INST, "product_code": "X1",
                   "period_start": "2020-01-01", "period_end": "2020-12-31",
                   "manufacturer_id": "M00000000020"}]
    orders = {"O1": {"distributor_id": SUPPLIER}}
    assert records.supplier_of(delivery, orders, agreements) == SUPPLIER
    assert records.supplier_of(delivery, {}, agreements) == "M00000000020"
    assert records.supplier_of(delivery, {}, agreements[:1]) is None


def test_the_index_groups_records_by_institution_and_kind() -> None:
    index = records.Index()
    index.add(f"payment:{INST}:PAY:1", {"payment_id": "PAY:1"})
    assert index.institutions() == [INST]
    assert index.of(INST, "payment") == {"PAY:1": {"payment_id": "PAY:1"}}
    assert index.of("H00000000000", "payment") == {}


# reports ----------------------------------------------------------------------------------


def test_an_unmatched_payment_is_reported_with_its_figures() -> None:  # 000 §五(三)
    payment = pay("P1", "130", date(2020, 3, 4), "D1", "GHOST")
    settled = accounts.settle({"D1": payable("D1", "100")}, [payment])
    notice = notices.payment_unmatched(payment, settled.anomalies["P1"], settled.applied["P1"],
                                       GZ.settlement.payment_deadline)
    assert notice is not None
    assert notice.warning_id == f"settlement.payment_unmatched:{INST}:P1:warning"
    assert (notice.severity, notice.policy_ref) == ("warning", "000 §五(三)")
    assert (notice.metrics["applied"], notice.metrics["unmatched"]) == ("100", "30")
    assert notice.metrics["kinds"] == ["overpayment", "unknown_delivery"]
    WarningRaised.model_validate(notice.data())
    deadline = GZ.settlement.payment_deadline
    assert notices.payment_unmatched(payment, [], Decimal(130), deadline) is None


def test_a_payment_to_another_payee_is_only_noted() -> None:
    payment = pay("P1", "100", date(2020, 3, 4), "D1", payee_id="M00000000001")
    settled = accounts.settle({"D1": payable("D1", "100")}, [payment])
    notice = notices.payment_unmatched(payment, settled.anomalies["P1"], settled.applied["P1"],
                                       SX.settlement.payment_deadline)
    assert notice is not None and notice.severity == "info"
    assert notice.policy_ref == "004 §五(四)"


def test_xian_reconciles_the_advance_at_the_end_and_shanxi_does_not_say_so() -> None:
    """003 §三(三)1 "清算结账"; 004 §五(四) prepays but names no reconciliation."""
    position = PrepaymentReconciliation(INST, Decimal("29997.00"), Decimal("26664.0000"),
                                        ("r1", "r2"))
    args = (position, "AGR-1", date(2020, 1, 1), date(2020, 12, 31))
    notice = notices.prepayment_reconciliation(*args, XA.settlement.prepayment)
    assert notice is not None
    assert (notice.metrics["balance"], notice.metrics["to_recover"]) == ("3333.0000", "3333.0000")
    assert (notice.period, notice.policy_ref) == ("2020", "003 §三(三)1")
    WarningRaised.model_validate(notice.data())
    assert notices.prepayment_reconciliation(*args, SX.settlement.prepayment) is None


# payment standard ---------------------------------------------------------------------------


def product(code: str, price: str, winning: bool, passed: bool = True, units: str = "1",
            name: str = "阿托伐他汀钙片") -> dict[str, Any]:
    return {"product_code": code, "generic_name": name, "price": price, "winning": winning,
            "consistency_passed": passed, "reference_units": units}


WINNER = product("XWIN", "0.6400", True, units="2")           # 20 mg at 0.64: 0.32 per 10 mg
ORIGINATOR = product("XORIG", "2.5600", False, units="1")      # 10 mg originator
NON_PASSED = product("XNP", "0.5000", False, passed=False, units="1")
LISTED = [WINNER, ORIGINATOR, NON_PASSED, product("XOTHER", "0.0100", True, name="其他")]


def test_the_winning_price_is_converted_by_reference_units() -> None:
    found = standard.winning_price_for(ORIGINATOR, LISTED)
    assert found == standard.WinningPrice(Decimal("0.3200"), "XWIN")
    cheaper = product("XWIN2", "0.3000", True, units="1")
    assert standard.winning_price_for(ORIGINATOR, [*LISTED, cheaper]) == standard.WinningPrice(
        Decimal("0.3000"), "XWIN2")


def test_guizhou_patient_pays_the_originators_excess_above_the_standard() -> None:
    """000 §五(五): 28 originator tablets at 2.5600 against a standard of 0.3200."""
    q = standard.quote(ORIGINATOR, LISTED, GZ.settlement.payment_standard, quantity=28)
    assert (q["fund"], q["patient"], q["fund_per_unit"]) == ("8.9600", "62.7200", "0.3200")
    assert q["policy_ref"] == "000 §五(五)"


def test_shanxi_caps_the_non_passed_generic_and_guizhou_asks_for_its_standard() -> None:
    """004 §五(六) caps a non-passed generic at the passed standard; 000 §五(五) sets none."""
    q = standard.quote(NON_PASSED, LISTED, SX.settlement.payment_standard,
                       non_passed_standard=Decimal("0.4000"))
    assert (q["fund"], q["patient"], q["policy_ref"]) == ("0.3200", "0.1800", "004 §五(六)")
    with pytest.raises(standard.NoStandard) as caught:
        standard.quote(NON_PASSED, LISTED, GZ.settlement.payment_standard)
    assert caught.value.status == 422


def test_no_standard_without_a_winner_or_where_the_profile_sets_none() -> None:
    """002 §四(四) delegates the standard to documents outside the seeds."""
    with pytest.raises(standard.NoStandard) as yunnan:
        standard.quote(ORIGINATOR, LISTED, YN.settlement.payment_standard)
    assert yunnan.value.status == 404
    with pytest.raises(standard.NoStandard) as no_winner:
        standard.quote(product("XZ", "1.0000", False, name="无中选"), LISTED,
                       GZ.settlement.payment_standard)
    assert no_winner.value.status == 404


# topology ---------------------------------------------------------------------------------


def test_settlement_reads_every_partition_of_quota_progress_in_each_institutions_task(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """vbp.quota.progress is keyed by agreement, settlement's state by institution: every
    worker reads all its partitions (a shared input, which each task merges by timestamp with
    its own inputs, so a tick waits for the progress stamped before it on all of them), and
    each progress record is handled in the task of its institution."""
    from runtime.shell import LoopService
    from runtime.settings import Settings
    from schemas.envelope import new_event
    from schemas.events import EXAMPLES
    from services.settlement.app import build

    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VBP_POLICY", "xian")
    service = LoopService(Settings.from_env("settlement"))
    build(service)
    inputs = {base: spec for spec in service.processor.inputs for base in spec.bases}
    progress = inputs["vbp.quota.progress"]
    event = new_event("vbp.quota.progress", {**EXAMPLES["vbp.quota.progress"],
                                             "institution_id": "H52010200077"},
                      id="p-1", source="/service/quota", time="2020-01-05T10:00:00+08:00",
                      province="520000")
    assert progress.shared and progress.route is not None
    assert progress.route(event) == "H52010200077"
    assert not inputs["vbp.payments"].shared
    assert service.processor.group_topics() == ["vbp.deliveries", "vbp.orders", "vbp.payments"]


async def test_accounts_kept_record_by_record_are_the_accounts_rebuilt_from_every_record(
        ) -> None:
    """Settlement.settled keeps each institution's payables and payments up to date as records
    arrive and goes on from its last answer; in any order of orders, deliveries and payments,
    early or late (a payment before the delivery it names, an order after its delivery), and
    asked as of any day, it answers what applying every payment again to every payable gives.
    000 §五(三): payments settle deliveries in the order they were made."""
    import random
    from datetime import timedelta
    from types import SimpleNamespace

    from services.settlement.app import Settlement

    service = SimpleNamespace(policy=GZ, table=lambda name: {}, on_recover=lambda cb: None)
    kept = Settlement(service)  # type: ignore[arg-type]
    rng = random.Random(7)
    day = date(2020, 3, 1)
    events = []
    for n in range(60):
        accepted = day + timedelta(days=rng.randint(0, 60))
        delivery = f"dlv-{n}"
        events.append(cloud("vbp.order.placed", f"o-{n}", order_id=f"ord-{n}",
                            distributor_id=rng.choice([SUPPLIER, "D52010000099"])))
        events.append(cloud("vbp.delivery.accepted", f"d-{n}", delivery_id=delivery,
                            order_id=f"ord-{n}", accepted_on=accepted.isoformat(),
                            amount=f"{rng.randint(1, 900)}.0000"))
        named = [delivery] + ([f"dlv-{n - 1}"] if n and rng.random() < 0.3 else [])
        events.append(cloud("vbp.payment.made", f"p-{n}", payment_id=f"pay-{n}",
                            delivery_ids=named, payee_id=SUPPLIER,
                            paid_on=(accepted + timedelta(days=rng.randint(-3, 40))).isoformat(),
                            amount=f"{rng.randint(1, 900)}.0000"))
    rng.shuffle(events)
    asked = 0
    for event_ in events:
        await kept.on_money(event_)
        for _ in range(2):
            before = rng.choice([None, day + timedelta(days=rng.randint(0, 110))])
            got = kept.settled(INST, before=before)
            rebuilt = Settlement(service)  # type: ignore[arg-type]
            rebuilt.index = kept.index
            assert got == rebuilt.settled(INST, before=before), (event_.id, before)
            asked += 1
    assert asked == 360 and kept.settled(INST).applied  # payments did apply
