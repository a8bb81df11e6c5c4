"""The topic registry and the generated AsyncAPI / JSON Schema documents."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from schemas import (
    EVENT_TYPES,
    INPUT_TYPES,
    OUTPUT_TYPES,
    TOPICS,
    TYPE_TOPIC,
    asyncapi,
    example_event,
    key_of,
    topic_name,
)
from schemas.services import SERVICES

CONTRACT_TOPICS = {
    # name: (key, compacted, partitions, direction)
    "vbp.ref.institutions": ("institution_id", True, 1, "input"),
    "vbp.ref.products": ("product_code", True, 1, "input"),
    "vbp.ref.agreements": ("agreement_id", True, 1, "input"),
    "vbp.orders": ("institution_id", False, 4, "input"),
    "vbp.deliveries": ("institution_id", False, 4, "input"),
    "vbp.payments": ("institution_id", False, 4, "input"),
    "vbp.supply.reports": ("manufacturer_id", False, 4, "input"),
    "vbp.supply.incidents": ("manufacturer_id", False, 4, "input"),
    "vbp.clock": ("province", False, 1, "input"),
    "vbp.alliance.inbound": ("province", False, 1, "input"),
    "vbp.alliance.outbound": ("province", False, 1, "output"),
    "vbp.quota.progress": ("agreement_id:period", True, 4, "output"),
    "vbp.quota.summaries": ("summary_id", True, 1, "output"),
    "vbp.warnings": ("subject_id", False, 4, "output"),
    "vbp.escalations": ("product_code", False, 4, "output"),
    "vbp.decisions": ("subject_id", False, 4, "output"),
    "vbp.notifications": ("alert_id", False, 4, "output"),
    "vbp.deadletter": ("", False, 4, "output"),
}


def test_registry_matches_the_contract() -> None:
    assert {
        name: (topic.key, topic.compacted, topic.partitions, topic.direction)
        for name, topic in TOPICS.items()
    } == CONTRACT_TOPICS


def test_every_event_type_lives_on_exactly_one_topic() -> None:
    homes = Counter(t for topic in TOPICS.values() for t in topic.types)
    assert set(homes) == set(EVENT_TYPES)
    assert all(count == 1 for count in homes.values()), homes
    assert {t: n for n, topic in TOPICS.items() for t in topic.types} == TYPE_TOPIC


def test_inputs_and_outputs_sit_on_topics_of_their_direction() -> None:
    assert {TOPICS[TYPE_TOPIC[t]].direction for t in INPUT_TYPES} == {"input"}
    assert {TOPICS[TYPE_TOPIC[t]].direction for t in OUTPUT_TYPES} == {"output"}


def test_orders_deliveries_and_payments_are_co_partitioned() -> None:
    trio = [TOPICS[name] for name in ("vbp.orders", "vbp.deliveries", "vbp.payments")]
    assert len({(topic.key, topic.partitions) for topic in trio}) == 1


def test_deadletter_carries_raw_values_only() -> None:
    assert TOPICS["vbp.deadletter"].types == ()


@pytest.mark.parametrize("type_", sorted(EVENT_TYPES))
def test_key_fields_exist_on_the_data_of_the_topic(type_: str) -> None:
    event = example_event(type_)
    key = key_of(event)
    assert key and key == event.subject
    for field in TOPICS[TYPE_TOPIC[type_]].key.split(":"):
        assert field == "province" or field in EVENT_TYPES[type_].model_fields


def test_progress_is_keyed_by_agreement_and_period() -> None:
    assert key_of(example_event("vbp.quota.progress")) == "AGR-520000-2020-000001:2020-Q1"
    assert key_of(example_event("vbp.clock.tick")) == "520000"


def test_topic_name_prefixes_and_refuses_unknown_topics() -> None:
    assert topic_name("vbp.orders") == "vbp.orders"
    assert topic_name("vbp.orders", "test-7.") == "test-7.vbp.orders"
    with pytest.raises(KeyError):
        topic_name("vbp.order")


# -- generated documents -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.asyncapi_document()


def test_generated_files_are_current() -> None:
    assert asyncapi.stale_files() == [], "run `python -m schemas.asyncapi` and commit the result"


def test_check_detects_a_stale_or_extra_file(tmp_path: Path) -> None:
    asyncapi.write(tmp_path)
    assert asyncapi.stale_files(tmp_path) == []
    (tmp_path / "asyncapi.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "jsonschema" / "vbp.order.renamed.json").write_text("{}\n", encoding="utf-8")
    assert asyncapi.stale_files(tmp_path) == ["asyncapi.json", "jsonschema/vbp.order.renamed.json"]
    assert asyncapi.write(tmp_path) == ["asyncapi.json", "jsonschema/vbp.order.renamed.json"]
    assert asyncapi.stale_files(tmp_path) == []


def test_check_command_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert asyncapi.main(["--check"]) == 0
    monkeypatch.setattr(asyncapi, "ROOT", tmp_path)
    assert asyncapi.main(["--check"]) == 1
    assert asyncapi.main([]) == 0 and asyncapi.main(["--check"]) == 0


def test_output_is_deterministic() -> None:
    assert asyncapi.generated_files() == asyncapi.generated_files()


def test_asyncapi_lists_every_topic_with_its_messages(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == set(TOPICS)
    for name, topic in TOPICS.items():
        channel = document["channels"][name]
        assert channel["address"] == name
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        policy = channel["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"]
        assert policy == (["compact"] if topic.compacted else ["delete"])
        for type_ in topic.types:
            message = document["components"]["messages"][type_]
            assert channel["messages"][type_] == {"$ref": f"#/components/messages/{type_}"}
            data_ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"]
            assert data_ref == f"#/components/schemas/{EVENT_TYPES[type_].__name__}"
            assert message["examples"][0]["payload"]["type"] == type_
    # operations: each service's reads and writes (schemas/services.py)
    received, sent = set(), set()
    for operation_id, operation in document["operations"].items():
        service, action, name = operation_id.split(".", 2)
        assert operation["action"] == action and operation["tags"] == [{"name": service}]
        assert operation["channel"] == {"$ref": f"#/channels/{name}"}
        assert len(operation["messages"]) == len(document["channels"][name]["messages"])
        (received if action == "receive" else sent).add(name)
    assert received >= {name for name, t in TOPICS.items() if t.direction == "input"}
    # the services write every output, and the inputs their HTTP intakes take in
    assert sent == {name for name, t in TOPICS.items() if t.direction == "output"} | {
        base for streams in SERVICES.values() for base in streams.intake}


def test_message_schemas_hold_every_contract_field(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for model in EVENT_TYPES.values():
        assert set(schemas[model.__name__]["properties"]) == set(model.model_fields)
    unit_price = schemas["OrderPlaced"]["properties"]["unit_price"]
    assert unit_price["type"] == "string" and unit_price["pattern"].startswith("^")
    assert unit_price["description"] == "Price per unit in yuan."


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert len(refs) > len(EVENT_TYPES) * 3
    for ref in refs:
        assert _resolve(document, ref) is not None, ref


@pytest.mark.parametrize("type_", sorted(EVENT_TYPES))
def test_per_type_json_schema_is_self_contained(type_: str) -> None:
    schema = asyncapi.event_json_schema(type_)
    assert schema["properties"]["type"]["const"] == type_
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and _resolve(schema, ref)


def test_examples_satisfy_the_published_json_schemas() -> None:
    jsonschema = pytest.importorskip("jsonschema")  # optional: not a dependency of the project
    for type_ in EVENT_TYPES:
        schema = json.loads((asyncapi.ROOT / "jsonschema" / f"{type_}.json").read_text("utf-8"))
        event = json.loads(example_event(type_).to_json_bytes())
        jsonschema.Draft202012Validator(schema).validate(event)
        event["data"] = {}
        assert not jsonschema.Draft202012Validator(schema).is_valid(event), type_
