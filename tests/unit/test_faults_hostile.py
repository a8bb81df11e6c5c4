"""The hostile messages of the fault suite: every one is invalid, the events they start from are
valid, and a seed gives the same messages."""

from __future__ import annotations

from collections import Counter

import pytest

from faults.hostile import CODEC, FAULTS, OVERSIZE_LIMIT, generate, valid_bases
from runtime.codec import InvalidEvent, decode
from schemas.topics import TYPE_TOPIC

COUNT = 3000


@pytest.fixture(scope="module")
def messages() -> list:
    return generate(COUNT, seed=1)


def test_the_bases_are_valid() -> None:
    for base in valid_bases():
        event = decode(base.value)
        assert base.topic in (TYPE_TOPIC[event.type], "vbp.alliance.inbound")


def test_every_kind_of_fault_is_generated(messages: list) -> None:
    assert len(messages) == COUNT
    assert set(Counter(m.fault for m in messages)) == set(FAULTS)


def test_codec_faults_are_refused_by_the_codec(messages: list) -> None:
    accepted = []
    for message in messages:
        if message.rejected_by != CODEC:
            continue
        try:
            decode(message.value)
        except InvalidEvent as error:
            assert str(error), message
        else:
            accepted.append((message.fault, message.detail))
    assert accepted == []


def test_the_others_decode_and_break_the_named_service_rule(messages: list) -> None:
    for message in (m for m in messages if m.rejected_by != CODEC):
        event = decode(message.value)
        data = event.data.model_dump(mode="json")
        if message.fault == "wrong_topic":
            assert TYPE_TOPIC[event.type] != message.topic
        elif message.fault == "spoofed_manufacturer":
            assert event.source != f"/manufacturer/{data['manufacturer_id']}"
        elif message.fault == "resumed_without_stop":
            assert event.type == "vbp.supply.production_resumed"
            assert data["incident_id"].startswith("hostile-")
        else:
            assert message.fault == "alliance_not_from_partner"
            assert message.topic == "vbp.alliance.inbound"
            assert event.source != f"/alliance/{event.province}" or event.province == "520000"


def test_ids_are_unique_and_sizes_fit_the_broker(messages: list) -> None:
    decoded_ids = [decode(m.value).id for m in messages if m.rejected_by != CODEC]
    assert len(decoded_ids) == len(set(decoded_ids))
    assert max(len(m.value) for m in messages) <= OVERSIZE_LIMIT


def test_the_same_seed_gives_the_same_messages() -> None:
    assert generate(150, seed=7) == generate(150, seed=7)
    assert generate(150, seed=7) != generate(150, seed=8)
