"""Generate the AsyncAPI 3.0 document and per-type JSON Schemas from the models and registries.

    python -m schemas.asyncapi           # (re)write schemas/asyncapi.json, schemas/jsonschema/
    python -m schemas.asyncapi --check   # exit 1 if the committed files are not current
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.envelope import CONTENT_TYPE, CloudEvent, example_event
from schemas.events import EVENT_TYPES
from schemas.services import DEADLETTER, SERVICES
from schemas.topics import DEADLETTER_HEADERS, TOPICS, Topic

ROOT = Path(__file__).resolve().parent
ASYNCAPI_FILE = "asyncapi.json"
JSONSCHEMA_DIR = "jsonschema"
KAFKA_BINDING = "0.5.0"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_DEADLETTER_MESSAGE = "deadletter.rejected"


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _summary(model: type) -> str:
    return (model.__doc__ or "").strip().splitlines()[0]


def _message(type_: str, topic: Topic) -> dict[str, Any]:
    model = EVENT_TYPES[type_]
    example = json.loads(example_event(type_).to_json_bytes())
    return {
        "name": type_,
        "title": model.__name__,
        "summary": _summary(model),
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {"content-type": {"type": "string", "const": CONTENT_TYPE}},
        },
        "payload": {"allOf": [
            {"$ref": "#/components/schemas/CloudEvent"},
            {
                "type": "object",
                "required": ["type", "data"],
                "properties": {
                    "type": {"type": "string", "const": type_},
                    "data": {"$ref": f"#/components/schemas/{model.__name__}"},
                },
            },
        ]},
        "examples": [{"name": "guizhou", "summary": "Guizhou (520000)", "payload": example}],
        "bindings": {"kafka": {
            "key": {"type": "string", "description": f"Kafka key: {topic.key}"},
            "bindingVersion": KAFKA_BINDING,
        }},
    }


def _deadletter_message() -> dict[str, Any]:
    return {
        "name": _DEADLETTER_MESSAGE,
        "title": "Rejected input",
        "summary": "A message that failed validation, value and key unchanged.",
        "headers": {
            "type": "object",
            "required": list(DEADLETTER_HEADERS),
            "properties": {name: {"type": "string"} for name in DEADLETTER_HEADERS},
        },
        "payload": {"description": "The rejected message value, byte for byte."},
    }


def _channel(topic: Topic) -> dict[str, Any]:
    names = list(topic.types) or ([_DEADLETTER_MESSAGE] if topic.name == "vbp.deadletter" else [])
    return {
        "address": topic.name,
        "title": topic.name,
        "description": f"{topic.description} Key: {topic.key or 'the original key'}.",
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        "bindings": {"kafka": {
            "topic": topic.name,
            "partitions": topic.partitions,
            "topicConfiguration": {"cleanup.policy": ["compact" if topic.compacted else "delete"]},
            "bindingVersion": KAFKA_BINDING,
        }},
    }


def _operation(service: str, action: str, topic: Topic, channel: dict[str, Any],
               summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{topic.name}"},
        "summary": summary,
        "tags": [{"name": service}],
        "messages": [
            {"$ref": f"#/channels/{topic.name}/messages/{name}"} for name in channel["messages"]
        ],
    }


def _operations(channels: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each service's reads and writes as schemas/services.py declares them."""
    operations = {}
    for s in SERVICES.values():
        for base in s.consumes:
            operations[f"{s.name}.receive.{base}"] = _operation(
                s.name, "receive", TOPICS[base], channels[base], f"{s.name} consumes {base}")
        for base in (*s.emits, DEADLETTER):
            how = (" from its HTTP intake" if base in s.intake else
                   ": the events it cannot decode or validate" if base == DEADLETTER else "")
            operations[f"{s.name}.send.{base}"] = _operation(
                s.name, "send", TOPICS[base], channels[base], f"{s.name} writes {base}{how}")
    return operations


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every topic in TOPICS."""
    models: list[type[BaseModel]] = [CloudEvent, *EVENT_TYPES.values()]
    _, defs = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    messages = {
        t: _message(t, TOPICS[topic.name]) for topic in TOPICS.values() for t in topic.types
    }
    messages[_DEADLETTER_MESSAGE] = _deadletter_message()
    channels = {topic.name: _channel(topic) for topic in TOPICS.values()}
    operations = _operations(channels)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "VBP Monitor event contract",
            "version": "1.0.0",
            "description": "Kafka topics of VBP Monitor (docs/contract.md). Every value is a "
            "CloudEvents 1.0 event in structured JSON mode; topic names take the "
            "VBP_TOPIC_PREFIX of the deployment.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {"local": {
            "host": "127.0.0.1:9092", "protocol": "kafka",
            "description": "Default VBP_KAFKA_BOOTSTRAP.",
        }},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": defs["$defs"], "messages": messages},
    }


def event_json_schema(type_: str) -> dict[str, Any]:
    """Self-contained JSON Schema (2020-12) of a whole event of `type_`, envelope included."""
    model = EVENT_TYPES[type_]
    schema = CloudEvent.model_json_schema()
    data = model.model_json_schema()
    defs = data.pop("$defs", {})
    schema["properties"]["type"] = {"type": "string", "const": type_}
    schema["properties"]["data"] = {"$ref": f"#/$defs/{model.__name__}"}
    schema["$defs"] = {**defs, model.__name__: data}
    schema["$schema"] = DRAFT_2020_12
    schema["title"] = type_
    schema["description"] = f"CloudEvents 1.0 event {type_}: {_summary(model)}"
    return schema


def generated_files() -> dict[str, str]:
    """Relative path under schemas/ -> the text that belongs there."""
    files = {ASYNCAPI_FILE: _dump(asyncapi_document())}
    for type_ in EVENT_TYPES:
        files[f"{JSONSCHEMA_DIR}/{type_}.json"] = _dump(event_json_schema(type_))
    return files


def stale_files(root: Path | None = None) -> list[str]:
    """Generated files that are missing, differ, or should not be there."""
    root = root or ROOT
    expected = generated_files()
    stale = [
        path for path, text in expected.items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]
    present = {f"{JSONSCHEMA_DIR}/{p.name}" for p in (root / JSONSCHEMA_DIR).glob("*.json")}
    return sorted(stale + sorted(present - expected.keys()))


def write(root: Path | None = None) -> list[str]:
    """Write every generated file, remove stale schemas; return the paths changed."""
    root = root or ROOT
    changed = stale_files(root)
    (root / JSONSCHEMA_DIR).mkdir(exist_ok=True)
    expected = generated_files()
    for path in changed:
        if path in expected:
            (root / path).write_text(expected[path], encoding="utf-8")
        else:
            (root / path).unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.asyncapi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the generated files are not current; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print("schemas: generated files are out of date, run `python -m schemas.asyncapi`: "
                  + ", ".join(stale), file=sys.stderr)
            return 1
        print("schemas: generated files are current")
        return 0
    changed = write()
    print(f"schemas: wrote {len(changed)} file(s)" + (": " + ", ".join(changed) if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
