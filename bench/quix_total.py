"""A peer on the same work as bench.total, for the bench: a quix-streams application (PyPI
quixstreams, run from its own venv, .cache/peers) keeping a running total of ordered quantity
per institution and product in its state store (RocksDB, changelog topic), exactly-once, writing
each total to vbp.quota.progress. It decodes each order with orjson, as quix-streams does, not
into the contract's models. Configured as the services are (VBP_KAFKA_BOOTSTRAP,
VBP_TOPIC_PREFIX, VBP_APP_ID, VBP_DATA_DIR); prints "Ready" before it runs."""
from __future__ import annotations

import os

from quixstreams import Application, State


def main() -> None:
    env = os.environ
    prefix = env.get("VBP_TOPIC_PREFIX", "")
    app = Application(broker_address=env.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                      consumer_group=env["VBP_APP_ID"], auto_offset_reset="earliest",
                      processing_guarantee="exactly-once",
                      state_dir=env.get("VBP_DATA_DIR", "/tmp/quix-state"),
                      auto_create_topics=True)
    orders = app.topic(prefix + "vbp.orders", value_deserializer="json",
                       key_deserializer="str")
    progress = app.topic(prefix + "vbp.quota.progress", value_serializer="json",
                         key_serializer="str")

    def count(event: dict, state: State) -> dict:
        data = event["data"]
        key = f"{data['institution_id']}:{data['product_code']}"
        total = state.get(key, 0) + data["quantity"]
        state.set(key, total)
        return {"id": f"progress:{key}:{event['id']}", "agreement_id": key,
                "ordered_quantity": total}

    sdf = app.dataframe(orders)
    sdf = sdf.filter(lambda event: event["type"] == "vbp.order.placed")
    sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(progress)
    print("Ready", flush=True)
    app.run()


if __name__ == "__main__":
    main()
