"""faust's ceiling: `python -m bench.bare_faust`, a faust worker with one agent that decodes every
order on the orders topic (runtime.codec.decode) and does nothing else: no tables, no outputs,
none of the runtime's checks. Run by bench.run exactly as a service is (same environment, same
group and broker settings), so the difference to the quota service is what the runtime and the
service's work cost, and the difference to the bare aiokafka consumer is faust's own."""
from __future__ import annotations

import os
import sys

import faust

from runtime.codec import decode
from schemas.topics import topic_name

app = faust.App(
    os.environ["VBP_APP_ID"],
    broker=f"kafka://{os.environ['VBP_KAFKA_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ["VBP_DATA_DIR"],
    web_host="127.0.0.1",
    web_bind="127.0.0.1",
    web_port=int(os.environ["VBP_BARE_FAUST_WEB_PORT"]),
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    consumer_group_instance_id=f"{os.environ['VBP_APP_ID']}-worker-"
                               f"{os.environ.get('VBP_WORKER_ID', '1')}",
    broker_session_timeout=10.0,
    broker_heartbeat_interval=2.0,
)
orders = app.topic(topic_name("vbp.orders", os.environ.get("VBP_TOPIC_PREFIX", "")),
                   key_type=bytes, value_type=bytes, key_serializer="raw",
                   value_serializer="raw")


@app.agent(orders)
async def read(stream: faust.StreamT) -> None:
    async for value in stream:
        decode(value)


if __name__ == "__main__":
    sys.argv = ["bench.bare_faust", "worker", "--loglevel", "info"]
    app.main()
