"""An agency client on the official CloudEvents Python SDK: one event to intake over HTTP
(binary content mode; --structured for structured mode) or, with --kafka, to the raw topic.

    pip install cloudevents httpx aiokafka
    python send.py --intake http://localhost:8081 --token "$TOKEN" --id ca-tinh-2024-06-cases --value 17
    KAFKA_SASL_USERNAME=agency-CA-TINH KAFKA_SASL_PASSWORD=... \
    python send.py --kafka localhost:9092 --topic progress.raw.v1.CA-TINH --id ca-tinh-2024-06-cases --value 17

On Kafka your agency writes only its own topic, `progress.raw.v1.<AGENCY>`, with the SCRAM
credentials `tiendo agency kafka-credentials create AGENCY` issued (docs/events.md).
"""

import argparse
import asyncio
import os
from datetime import UTC, datetime

import httpx
from cloudevents.core.bindings import http, kafka
from cloudevents.core.v1.event import CloudEvent

parser = argparse.ArgumentParser()
parser.add_argument("--intake", help="intake's URL, e.g. http://localhost:8081")
parser.add_argument("--token", help="your agency's API token (tdo_...)")
parser.add_argument("--kafka", help="bootstrap servers: send to the raw topic instead")
parser.add_argument("--topic", default="progress.raw.v1")
parser.add_argument("--structured", action="store_true", help="structured instead of binary content mode")
parser.add_argument("--agency", default="CA-TINH")
parser.add_argument("--id", required=True, help="unique within your agency, stable for re-sends")
parser.add_argument("--indicator", default="drug_cases_detected")
parser.add_argument("--period", default="2024-06")
parser.add_argument("--value", type=int, required=True)
parser.add_argument("--time", default=None, help="RFC 3339 with a UTC offset; default: now")
args = parser.parse_args()

event = CloudEvent(
    {
        "id": args.id,
        "source": f"/agencies/{args.agency}",
        "type": "vn.gov.pcmt.indicator.reported.v1",
        "time": datetime.fromisoformat(args.time) if args.time else datetime.now(UTC),
        "datacontenttype": "application/json",
    },
    {"indicator": args.indicator, "period": args.period, "value": args.value},
)


async def to_kafka() -> None:
    from aiokafka import AIOKafkaProducer

    message = kafka.to_binary_event(event)  # data as the value, attributes as ce_ headers
    username = os.environ.get("KAFKA_SASL_USERNAME")
    security = (
        {
            "security_protocol": "SASL_PLAINTEXT",  # SASL_SSL with a CA outside loopback
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": username,
            "sasl_plain_password": os.environ["KAFKA_SASL_PASSWORD"],
        }
        if username
        else {}
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.kafka, acks="all", enable_idempotence=True, **security)
    await producer.start()
    try:
        await producer.send_and_wait(
            args.topic, message.value, key=args.agency.encode(), headers=list(message.headers.items())
        )
    finally:
        await producer.stop()
    print(f"sent {args.id} to {args.topic}")


if args.kafka:
    asyncio.run(to_kafka())
else:
    message = (http.to_structured_event if args.structured else http.to_binary_event)(event)
    response = httpx.post(
        f"{args.intake}/v1/events",
        content=message.body,
        headers={**message.headers, "authorization": f"Bearer {args.token}"},
    )
    print(response.status_code, response.text)  # 202 accepted, 200 duplicate, else a problem+json
    raise SystemExit(0 if response.status_code in (200, 202) else 1)
