"""The webhook sender's threads: kept from batch to batch, one pool per calling thread."""

import os
import threading

import pytest

from notifications import services
from notifications.models import WebhookEndpoint
from notifications.services import deliveries
from notifications.tests.deliveries import queued_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_shops(shop, other_shop, receiver, allow_private) -> list[WebhookEndpoint]:
    """An endpoint of each of two shops (on two hosts): every batch holds two groups."""
    endpoints = []
    for owner, host, path in ((shop, "127.0.0.1", "/a"), (other_shop, "localhost", "/b")):
        endpoint, secret = services.webhook_endpoint_create(
            shop_id=owner.pk, url=f"http://{host}:{receiver.port}{path}"
        )
        receiver.secrets[path] = secret
        endpoints.append(endpoint)
    return endpoints


@pytest.fixture
def senders(monkeypatch) -> list[set[threading.Thread]]:
    """The threads that sent each batch's groups, batch by batch (the objects: the ids of
    ended threads are reused)."""
    batches: list[set[threading.Thread]] = []
    send_group = deliveries._send_group

    def noting(group, **kwargs):
        batches[-1].add(threading.current_thread())
        return send_group(group, **kwargs)

    monkeypatch.setattr(deliveries, "_send_group", noting)
    return batches


def test_later_batches_are_sent_by_the_threads_of_the_first(two_shops, receiver, senders):
    # given three batches, each of two groups (two shops on two hosts)
    for _ in range(3):
        for endpoint in two_shops:
            queued_delivery(endpoint)
        senders.append(set())

        # when each is sent
        assert services.webhook_deliveries_send_due(limit=2).sent == 2

    # then every batch was sent by the threads of one pool, kept: the first batch's threads
    # are alive after the last, and never more threads than the pool's bound. (Which of
    # them sends a group, and whether the pool starts its second thread in the first
    # batch or a later one, is the scheduler's business: not asserted.)
    pool = deliveries._sender_pool()
    used = set().union(*senders)
    assert threading.current_thread() not in used
    assert used <= set(pool._threads)
    assert 1 <= len(pool._threads) <= deliveries.SENDER_THREADS
    assert all(thread.is_alive() for thread in senders[0])
    assert len(receiver.received) == 6


def _send_one_batch(endpoints, senders):
    """Send one delivery to each endpoint from this thread; return this thread's pool."""
    for endpoint in endpoints:
        queued_delivery(endpoint)
    senders.append(set())
    assert services.webhook_deliveries_send_due(limit=len(endpoints)).sent == len(endpoints)
    return deliveries._sender_pool()


def test_another_calling_thread_gets_its_own_sender_threads(two_shops, receiver, senders):
    # given a batch sent from this thread
    mine = _send_one_batch(two_shops, senders)

    # when another thread asks for its pool
    theirs = []
    caller = threading.Thread(target=lambda: theirs.append(deliveries._sender_pool()))
    caller.start()
    caller.join(timeout=60)

    # then it is not this thread's, whose pool stays the same
    assert len(theirs) == 1
    assert theirs[0] is not mine
    assert deliveries._sender_pool() is mine


def test_a_forked_child_starts_its_own_sender_threads(two_shops, receiver, senders):
    # given a parent whose sender threads are running
    parent_pool = _send_one_batch(two_shops, senders)

    # when the process forks (a prefork worker's child)
    pid = os.fork()
    if pid == 0:  # the child: its pool is a new one, whose thread answers
        ok = False
        try:
            pool = deliveries._sender_pool()
            ok = pool is not parent_pool and pool.submit(lambda: 7).result(timeout=30) == 7
        finally:
            os._exit(0 if ok else 1)

    # then the child's own pool ran its work
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert deliveries._sender_pool() is parent_pool
