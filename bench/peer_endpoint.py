"""The single-event peer of the intake benchmark: a minimal FastAPI + aiokafka endpoint.

    DATABASE_URL= KAFKA_BOOTSTRAP_SERVERS=host:port PEER_TOPIC=t PEER_PORT=p \
        python -m bench.peer_endpoint

What a team writes in an afternoon: `POST /v1/events` parses the JSON body, sends it with an
idempotent `acks=all` aiokafka producer (aiokafka's own defaults otherwise), waits for the
acknowledgement and answers 202. No token, no validation, no plan rules, no duplicate registry:
the floor intake's single-event path is compared with. Served like intake (uvicorn, uvloop,
httptools, one process) so that the comparison is of the endpoints, not of the servers.
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.kafka import client_security

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
TOPIC = os.environ.get("PEER_TOPIC", "bench.peer")
producer: AIOKafkaProducer | None = None


@asynccontextmanager
async def lifespan(_: FastAPI):
    global producer
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, **client_security(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        yield
    finally:
        await producer.stop()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/events", status_code=202)
async def post_event(request: Request) -> JSONResponse:
    body = await request.body()
    event = json.loads(body)
    await producer.send_and_wait(TOPIC, body, key=str(event["source"]).encode())
    return JSONResponse({"status": "accepted", "id": event["id"]}, 202)


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("PEER_PORT", "8090")),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
