"""The outbox contract (`OutboxWriter` in a transaction, the sender's `DeliveryQueue`): the same
tests on the fake and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from services.notifier.service_layer.ports import (
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    DeliveryQueue,
    OutgoingEmail,
    UnitOfWork,
)
from tests.notifier.helpers import T0

S, LEASE = timedelta(seconds=1), timedelta(seconds=30)


async def enqueue(uow: UnitOfWork, key: str, at=T0, recipient: str = "cat@qt.example") -> bool:
    async with uow.begin() as tx:
        email = OutgoingEmail(
            key,
            f"<{key}@tiendo.local>",
            recipient,
            "tiendo@tiendo.local",
            f"subject {key}",
            f"message {key}".encode(),
            T0,
        )
        return await tx.outbox.enqueue(email, at)


async def test_an_email_is_enqueued_once_per_idempotency_key(uow: UnitOfWork, queue: DeliveryQueue):
    assert await enqueue(uow, "a") and not await enqueue(uow, "a") and await enqueue(uow, "b")
    assert (await queue.stats()).counts == {QUEUED: 2}


async def test_claims_are_due_emails_by_id_up_to_the_limit_and_count_an_attempt(
    uow: UnitOfWork, queue: DeliveryQueue
):
    for key in "abc":
        await enqueue(uow, key)
    await enqueue(uow, "later", at=T0 + 10 * S)  # due at its enqueue wall time
    first = await queue.claim("w1", T0, LEASE, 2)
    assert [(c.message, c.attempts, c.recipient, c.sender) for c in first] == [
        (b"message a", 1, "cat@qt.example", "tiendo@tiendo.local"),
        (b"message b", 1, "cat@qt.example", "tiendo@tiendo.local"),
    ]
    assert first[0].id < first[1].id and first[0].enqueued_wall == T0
    assert [c.message for c in await queue.claim("w2", T0, LEASE, 20)] == [b"message c"]  # leased: not again
    assert await queue.claim("w2", T0 + 5 * S, LEASE, 20) == []
    assert [c.message for c in await queue.claim("w2", T0 + 10 * S, LEASE, 20)] == [b"message later"]
    assert (await queue.stats()).counts == {SENDING: 4}


async def test_a_lease_that_ran_out_is_taken_over(uow: UnitOfWork, queue: DeliveryQueue):
    await enqueue(uow, "a")
    [claim] = await queue.claim("w1", T0, LEASE, 20)
    assert await queue.claim("w2", T0 + LEASE, LEASE, 20) == []  # not before it ran out
    [taken] = await queue.claim("w2", T0 + LEASE + S, LEASE, 20)
    assert taken.id == claim.id and taken.attempts == 2


async def test_sent_is_sent(uow: UnitOfWork, queue: DeliveryQueue):
    await enqueue(uow, "a")
    await enqueue(uow, "b", at=T0 + S)
    [claim] = await queue.claim("w1", T0, LEASE, 1)
    await queue.mark_sent(claim.id, T0 + S)
    assert await queue.claim("w1", T0 + 10 * LEASE, LEASE, 20) != []
    assert [c for c in await queue.claim("w3", T0 + 100 * LEASE, LEASE, 20) if c.id == claim.id] == []
    stats = await queue.stats()
    assert stats.counts == {SENT: 1, SENDING: 1} and stats.oldest_unsent == T0 + S


async def test_retry_later_requeues_the_email_and_gives_the_untried_back_without_an_attempt(
    uow: UnitOfWork, queue: DeliveryQueue
):
    for key in "abc":
        await enqueue(uow, key)
    a, b, c = await queue.claim("w1", T0, LEASE, 20)
    await queue.retry_later(a.id, "w1", "451 busy " + "x" * 3000, T0 + 5 * S, [b.id, c.id])
    assert await queue.claim("w1", T0 + 4 * S, LEASE, 20) == []
    again = await queue.claim("w1", T0 + 5 * S, LEASE, 20)
    assert [(x.id, x.attempts) for x in again] == [(a.id, 2), (b.id, 1), (c.id, 1)]
    assert (await queue.stats()).counts == {SENDING: 3}


async def test_retry_later_leaves_a_claim_another_sender_took_over(uow: UnitOfWork, queue: DeliveryQueue):
    await enqueue(uow, "a")
    await enqueue(uow, "b")
    a, b = await queue.claim("w1", T0, LEASE, 20)
    late = T0 + LEASE + S
    taken = await queue.claim("w2", late, LEASE, 20)  # w1 was presumed dead
    assert [x.id for x in taken] == [a.id, b.id]
    await queue.retry_later(a.id, "w1", "451", late, [b.id])  # w1 comes back: changes nothing
    assert await queue.claim("w3", late, LEASE, 20) == []
    assert (await queue.stats()).counts == {SENDING: 2}


async def test_failed_for_good_is_never_claimed_again(uow: UnitOfWork, queue: DeliveryQueue):
    await enqueue(uow, "a")
    [claim] = await queue.claim("w1", T0, LEASE, 20)
    await queue.mark_failed(claim.id, "550 no such user")
    assert await queue.claim("w1", T0 + 100 * LEASE, LEASE, 20) == []
    stats = await queue.stats()
    assert stats.counts == {FAILED: 1} and stats.oldest_unsent is None
