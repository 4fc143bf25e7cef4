"""The usage ingester: a durable JetStream pull consumer on the usage stream. Per fetched batch: one SQL
transaction (events, rollups, dead letters), commit, then ack; then the committed stream position is recorded.

A crash between commit and ack only causes a redelivery, which the ledger ignores (the request id is already
there), so nothing is lost or counted twice. Several control planes share the one durable consumer: JetStream
hands each message to one of them at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controlplane.ingest.ledger import BatchOutcome, advance_position, insert_dead_letters, store_batch
from controlplane.ingest.rows import Delivered, dead_letter_row
from shared.usage import usage_stream, usage_stream_config, usage_subject

log = structlog.get_logger("controlplane.ingest")

CONSUMER_NAME = "ledger"  # the one durable consumer every control plane shares
AfterCommit = Callable[[Sequence[Msg]], Awaitable[None]]

_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
_NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def ensure_usage_stream(js: JetStreamContext, prefix: str) -> None:
    """Create the usage stream if it is missing (the data planes do the same; whoever comes first wins)."""
    config = usage_stream_config(prefix)
    try:
        await js.stream_info(usage_stream(prefix))
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # created meanwhile by a data plane
            await js.stream_info(usage_stream(prefix))


def _delivered(message: Msg) -> Delivered:
    headers = message.headers or {}
    return Delivered(stream_seq=message.metadata.sequence.stream, data=message.data, msg_id=headers.get("Nats-Msg-Id"))


class UsageIngester:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        prefix: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        batch_size: int = 500,
        fetch_wait_seconds: float = 0.5,
        ack_wait_seconds: float = 30.0,
        after_commit: AfterCommit | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._js = js
        self._prefix = prefix
        self._sessionmaker = sessionmaker
        self._batch_size = batch_size
        self._fetch_wait = fetch_wait_seconds
        self._ack_wait = ack_wait_seconds
        self._after_commit = after_commit  # tests: a crash between commit and ack
        self._clock = clock
        self._committed_seq = 0
        self._failures = 0
        self._position_behind = False
        self.totals = BatchOutcome()

    @property
    def committed_seq(self) -> int:
        """Every usage-stream message up to this sequence is committed to the ledger (as last seen by this
        ingester; `usage_ingest_position` holds the same, advanced by every control plane)."""
        return self._committed_seq

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        await ensure_usage_stream(self._js, self._prefix)
        config = ConsumerConfig(
            durable_name=CONSUMER_NAME,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,  # a message is redelivered until stored; poison ones are acked as dead letters
            max_ack_pending=max(20_000, 4 * self._batch_size),
        )
        subscription = await self._js.pull_subscribe(
            usage_subject(self._prefix), durable=CONSUMER_NAME, stream=usage_stream(self._prefix), config=config
        )
        await self._record_position(subscription)
        return subscription

    async def run(self) -> None:
        """Ingest until cancelled; NATS and database failures are logged and retried, never fatal. Also checks
        `cancelling()`: nats-py can swallow a CancelledError that lands inside a publish."""
        task = asyncio.current_task()
        subscription: JetStreamContext.PullSubscription | None = None
        while task is None or not task.cancelling():
            try:
                if subscription is None:
                    subscription = await self.subscribe()
                    log.info("usage_ingester_started", committed_seq=self._committed_seq)
                messages = await self._fetch(subscription)
            except _NATS_ERRORS as exc:
                log.warning("usage_fetch_failed", error=repr(exc))
                await self._drop(subscription)
                subscription = None
                await self._back_off()
                continue
            if messages:
                await self.ingest(subscription, messages)
            elif self._position_behind:  # the last batch's position could not be read or stored: try again
                await self._record_position(subscription)

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await subscription.fetch(self._batch_size, timeout=self._fetch_wait)
        except TimeoutError:  # nothing to fetch (nats-py raises its own subclass, or asyncio's at a deadline edge)
            return []

    async def _drop(self, subscription: JetStreamContext.PullSubscription | None) -> None:
        if subscription is not None:
            with contextlib.suppress(*_NATS_ERRORS):
                await subscription.unsubscribe()

    async def _back_off(self) -> None:
        await asyncio.sleep(_RETRY_SECONDS[min(self._failures, len(_RETRY_SECONDS) - 1)])
        self._failures += 1

    async def ingest(self, subscription: JetStreamContext.PullSubscription, messages: Sequence[Msg]) -> None:
        """Commit one fetched batch, then ack it. On a database failure nothing is acked: the batch comes back."""
        batch = [_delivered(message) for message in messages]
        try:
            outcome = await self._commit(batch)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("usage_batch_failed", messages=len(batch), error=repr(exc))
            await self._back_off()
            for message in messages:  # redeliver now rather than after ack_wait
                with contextlib.suppress(*_NATS_ERRORS):
                    await message.nak()
            return
        self._failures = 0
        self.totals += outcome
        if self._after_commit is not None:
            await self._after_commit(messages)
        try:
            for message in messages[:-1]:
                await message.ack()
            # Acks are processed in order; waiting for the last one means the ack floor read next covers them all.
            await messages[-1].ack_sync()
        except _NATS_ERRORS as exc:  # unacked messages come back after ack_wait and are skipped as duplicates
            log.warning("usage_ack_failed", messages=len(batch), error=repr(exc))
            self._position_behind = True
            return
        await self._record_position(subscription)
        if outcome.dead_letters:
            log.warning("usage_dead_lettered", count=outcome.dead_letters)

    async def _commit(self, batch: list[Delivered]) -> BatchOutcome:
        try:
            async with self._sessionmaker() as session, session.begin():
                return await store_batch(session, batch, now=self._clock())
        except (IntegrityError, DataError) as exc:
            # The database refused a value our checks let through: find the message by storing them one by one.
            if len(batch) > 1:
                log.warning("usage_batch_refused", messages=len(batch), error=type(exc.orig).__name__)
                outcome = BatchOutcome()
                for item in batch:
                    outcome += await self._commit([item])
                return outcome
            [item] = batch
            error = f"refused by the database: {type(exc.orig).__name__}: {exc.orig}"
            async with self._sessionmaker() as session, session.begin():
                await insert_dead_letters(session, [dead_letter_row(item, error, self._clock())])
            return BatchOutcome(dead_letters=1)

    async def _record_position(self, subscription: JetStreamContext.PullSubscription) -> None:
        """The consumer's ack floor: every message at or below it is acked, hence committed."""
        self._position_behind = True
        try:
            info = await subscription.consumer_info()
        except _NATS_ERRORS as exc:
            log.warning("usage_position_unknown", error=repr(exc))
            return
        floor = (info.ack_floor.stream_seq if info.ack_floor is not None else None) or 0
        if floor <= self._committed_seq:
            self._position_behind = False
            return
        try:
            async with self._sessionmaker() as session, session.begin():
                await advance_position(session, floor, now=self._clock())
        except (SQLAlchemyError, OSError) as exc:
            log.warning("usage_position_not_recorded", error=repr(exc))
            return
        self._committed_seq = floor
        self._position_behind = False
