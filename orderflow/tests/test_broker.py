"""The Redis broker's acknowledgement (orderflow/broker.py), on a private redis-server.

A consumer with one prefetch slot takes a message and its ack fails: Redis is paused
(SIGSTOP: it takes the ack and does not answer) and the ack times out, or Redis refuses it.
The consumer must go on to the next message, and a message whose ack was never applied
must come back to its queue once its visibility timeout has passed, not be lost.
"""

import pytest
import redis
from kombu import Connection, Consumer, Producer, Queue

import orderflow.celery  # noqa: F401  (installs orderflow.broker.QoS, as every process does)
from orderflow.broker import QoS

QUEUE = Queue("acks", routing_key="acks")


@pytest.fixture
def broker(private_redis):
    # a short socket timeout: the ack on the paused server fails in seconds, not minutes
    with Connection(private_redis.url, transport_options={"socket_timeout": 0.5}) as conn:
        yield conn


def _consumer(conn: Connection, received: list) -> Consumer:
    consumer = Consumer(
        conn.default_channel, [QUEUE], callbacks=[lambda body, message: received.append(message)]
    )
    consumer.qos(prefetch_count=1)
    consumer.consume()
    return consumer


def _publish(conn: Connection, *numbers: int) -> None:
    producer = Producer(conn.default_channel)
    for n in numbers:
        producer.publish({"n": n}, routing_key="acks", declare=[QUEUE])


def test_redis_channels_use_the_qos_that_survives_a_failed_ack(broker):
    assert type(broker.default_channel.qos) is QoS


def test_a_consumer_goes_on_after_an_ack_times_out(private_redis, broker):
    _publish(broker, 1, 2)
    received = []
    _consumer(broker, received)
    broker.drain_events(timeout=5)
    assert [m.payload["n"] for m in received] == [1]

    private_redis.pause()
    try:
        with pytest.raises(broker.connection_errors):
            received[0].ack()
    finally:
        private_redis.resume()

    broker.drain_events(timeout=5)  # kombu's QoS alone: the slot stays taken, this times out
    assert [m.payload["n"] for m in received] == [1, 2]


def test_a_message_whose_ack_never_reached_redis_comes_back(private_redis, broker):
    # A paused server still reads the ack once it resumes; a refusal is an ack never applied.
    _publish(broker, 1, 2)
    received = []
    _consumer(broker, received)
    broker.drain_events(timeout=5)

    admin = redis.Redis.from_url(private_redis.url)
    admin.acl_setuser("default", reset=False, commands=["-zrem"])
    try:
        with pytest.raises(broker.channel_errors):
            received[0].ack()
    finally:
        admin.acl_setuser("default", reset=False, commands=["+zrem"])

    broker.drain_events(timeout=5)
    assert [m.payload["n"] for m in received] == [1, 2]
    received[1].ack()

    qos = broker.default_channel.qos
    qos.visibility_timeout = 0  # message 1 is still unacked in Redis: due back now
    qos.restore_visible(num=10, interval=1)
    broker.drain_events(timeout=5)
    assert [m.payload["n"] for m in received] == [1, 2, 1]
    received[2].ack()
    assert admin.hlen(broker.default_channel.unacked_key) == 0


def test_a_failed_reject_frees_the_slot_too(private_redis, broker):
    _publish(broker, 1, 2)
    received = []
    _consumer(broker, received)
    broker.drain_events(timeout=5)

    private_redis.pause()
    try:
        with pytest.raises(broker.connection_errors):
            received[0].reject(requeue=True)
    finally:
        private_redis.resume()

    broker.drain_events(timeout=5)
    assert [m.payload["n"] for m in received] == [1, 2]
