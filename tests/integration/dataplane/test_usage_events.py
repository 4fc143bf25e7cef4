"""Usage events over real NATS JetStream: exactly one event per request whatever its outcome, with the tokens the
provider reported; with NATS down they go to the disk spool and arrive, once NATS is back, under the same ids and
without duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import nats
from nats.js.errors import NotFoundError
from starlette.types import Message

from dataplane.app import create_app
from dataplane.asgi import DataPlaneApp
from dataplane.runtime import Runtime
from dataplane.settings import DataPlaneSettings
from dataplane.usage_events import UsageEmitter
from dataplane.usage_spool import UsageSpool
from shared.logs import make_logger
from shared.usage import TokenUsage, UsageEvent, decode_usage_event, usage_stream
from tests.asgi_client import LeavingClient, http_scope
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import FakeOpenAIProvider, ScriptedResponse, load_fixture, without_usage_chunk
from tests.integration.dataplane.conftest import eventually, make_settings, wait_for_version
from tests.services import OwnNats, unique_name
from tests.snapshot_factory import ClientKey, make_key, make_snapshot, publish, sign_snapshot, write_disk_cache

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello there, how are you today?"}]}
STREAM_CHAT = {**CHAT, "stream": True}


@dataclass(frozen=True)
class Plane:
    app: DataPlaneApp
    client: httpx.AsyncClient
    auth: dict[str, str]
    key: ClientKey

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def plane(
    settings: DataPlaneSettings, test_secrets: TestSecrets, *, provider_kind: str = "mock", base_url: str = ""
) -> AsyncIterator[Plane]:
    key = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(
        test_secrets.secret_key,
        version=1,
        keys=[key.spec],
        provider_kind=provider_kind,
        base_url=base_url or "http://127.0.0.1:9/v1",
        provider_api_key="sk-fake-upstream-key" if provider_kind != "mock" else None,
    )
    await publish(settings.nats_url, settings.nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dataplane", timeout=30) as client:
            await wait_for_version(client, 1)
            yield Plane(app=app, client=client, auth={"authorization": f"Bearer {key.token}"}, key=key)


async def stored_events(nats_url: str, prefix: str) -> list[tuple[str, UsageEvent]]:
    """Every message of the usage stream, in order, as (Nats-Msg-Id, event)."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        try:
            info = await js.stream_info(usage_stream(prefix))
        except NotFoundError:
            return []
        stored: list[tuple[str, UsageEvent]] = []
        if not info.state.messages:
            return stored
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(usage_stream(prefix), seq)
            assert message.headers is not None and message.data is not None
            stored.append((message.headers["Nats-Msg-Id"], decode_usage_event(message.data)))
        return stored
    finally:
        await connection.close()


async def wait_for_events(nats_url: str, prefix: str, count: int) -> dict[str, UsageEvent]:
    async def probe() -> list[tuple[str, UsageEvent]] | None:
        stored = await stored_events(nats_url, prefix)
        return stored if len(stored) >= count else None

    stored: list[tuple[str, UsageEvent]] = await eventually(probe, what=f"{count} usage events")
    assert len(stored) == count, [event.path for _, event in stored]
    return {msg_id: event for msg_id, event in stored}


class RecordingLeavingClient(LeavingClient):
    """A client that leaves mid-stream and keeps the response's request id."""

    request_id = ""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.request_id = dict(message["headers"])[b"x-request-id"].decode()
        await super().send(message)


async def leave_mid_stream(gw: Plane, body: dict[str, object]) -> str:
    client = RecordingLeavingClient(msgspec.json.encode(body))
    scope = http_scope(gw.auth["authorization"], msgspec.json.encode(body))
    answering = asyncio.create_task(gw.app(scope, client.receive, client.send))
    await asyncio.wait_for(client.first_body_sent.wait(), 10)
    client.leave()
    await asyncio.wait_for(answering, 10)
    return client.request_id


async def test_every_kind_of_request_emits_exactly_one_event_with_the_providers_tokens(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
) -> None:
    async with plane(dp_settings, test_secrets, provider_kind="openai_compatible", base_url=fake_openai.base_url) as gw:
        plain = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=CHAT)
        streamed = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=STREAM_CHAT)
        bad_key = await gw.client.post(
            "/v1/chat/completions", headers={"authorization": "Bearer wp-dev-x-y"}, json=CHAT
        )
        unknown = await gw.client.post("/v1/chat/completions", headers=gw.auth, json={**CHAT, "model": "nope"})
        fake_openai.enqueue(ScriptedResponse(status=400, fixture="bad_request.json"))
        upstream_error = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=CHAT)
        fake_openai.enqueue(ScriptedResponse(status=200, fixture="stream.sse", chunk_delay=0.2))
        left = await leave_mid_stream(gw, STREAM_CHAT)
        assert (await gw.client.get("/healthz")).status_code == 200  # probes are not usage
        events = await wait_for_events(nats_url, nats_prefix, 6)

    assert [r.status_code for r in (plain, streamed, bad_key, unknown, upstream_error)] == [200, 200, 401, 404, 400]
    ids = [r.headers["x-request-id"] for r in (plain, streamed, bad_key, unknown, upstream_error)] + [left]
    assert set(events) == set(ids)
    assert all(events[msg_id].request_id == msg_id for msg_id in ids)
    by = dict(zip(["plain", "streamed", "bad_key", "unknown", "upstream_error", "left"], ids, strict=True))

    assert events[by["plain"]].tokens == TokenUsage(input=19, output=10)  # good.json
    assert events[by["streamed"]].tokens == TokenUsage(input=10, output=5)  # stream.sse's usage chunk
    assert not events[by["plain"]].estimated and not events[by["streamed"]].estimated
    # the client did not ask for usage: the gateway asked the provider for it and kept the chunk to itself
    assert streamed.content == without_usage_chunk(load_fixture("stream.sse"))
    assert msgspec.json.decode(fake_openai.requests[1].body)["stream_options"] == {"include_usage": True}
    assert events[by["streamed"]].stream and events[by["streamed"]].ttft_ms is not None
    plain_event = events[by["plain"]]
    assert (plain_event.status, plain_event.key_id, plain_event.team_id) == (200, gw.key.spec.id, "team-1")
    assert (plain_event.route, plain_event.deployment_id, plain_event.attempts) == ("gpt-test", "deployment-1", 1)
    assert (plain_event.instance, plain_event.config_version) == (dp_settings.instance_id, 1)

    assert (events[by["bad_key"]].status, events[by["bad_key"]].key_id) == (401, None)
    assert (events[by["unknown"]].status, events[by["unknown"]].error_code) == (404, "model_not_found")
    assert events[by["unknown"]].key_id == gw.key.spec.id
    for refused in ("bad_key", "unknown", "upstream_error"):
        assert events[by[refused]].tokens == TokenUsage() and not events[by[refused]].estimated
    assert events[by["upstream_error"]].status == 400

    gone = events[by["left"]]
    assert (gone.status, gone.error_code, gone.estimated) == (499, "client_disconnected", True)
    assert gone.tokens.input > 0  # the prompt was sent; the output is what was streamed before the client left


async def test_the_mock_reports_the_same_tokens_streamed_and_not(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    async with plane(dp_settings, test_secrets) as gw:
        plain = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=CHAT)
        streamed = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=STREAM_CHAT)
        asked = {**STREAM_CHAT, "stream_options": {"include_usage": True}}
        with_usage = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=asked)
        events = await wait_for_events(nats_url, nats_prefix, 3)
    reported = plain.json()["usage"]
    expected = TokenUsage(input=reported["prompt_tokens"], output=reported["completion_tokens"])
    assert [events[r.headers["x-request-id"]].tokens for r in (plain, streamed, with_usage)] == [expected] * 3
    assert b'"usage"' not in streamed.content and b'"usage"' in with_usage.content


async def test_with_nats_down_events_are_spooled_and_arrive_with_the_same_ids_once_it_is_back(
    own_nats: OwnNats, test_secrets: TestSecrets, tmp_path: Path
) -> None:
    prefix = unique_name("wpt")
    settings = make_settings(test_secrets, nats_url=own_nats.url, nats_prefix=prefix, cache_dir=tmp_path / "cache")
    async with plane(settings, test_secrets) as gw:
        before = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=CHAT)
        await wait_for_events(own_nats.url, prefix, 1)

        own_nats.stop()
        during = [
            await gw.client.post("/v1/chat/completions", headers=gw.auth, json=STREAM_CHAT if i % 2 else CHAT)
            for i in range(6)
        ]
        assert all(response.status_code == 200 for response in during)  # usage being down fails no request

        async def spooled() -> int:
            return gw.runtime.usage.spooled if gw.runtime.usage is not None else 0

        assert await eventually(spooled, what="events in the spool") >= 1
        assert await asyncio.to_thread(lambda: list(Path(settings.usage_spool_dir).rglob("usage-*.spool")))

        own_nats.start()  # same port, same JetStream store
        events = await wait_for_events(own_nats.url, prefix, 7)

        async def spool_drained() -> bool:
            return gw.runtime.usage is not None and gw.runtime.usage.drained()

        await eventually(spool_drained, what="the spool replayed")
        stored = await stored_events(own_nats.url, prefix)

    ids = [before.headers["x-request-id"]] + [r.headers["x-request-id"] for r in during]
    assert set(events) == set(ids)
    assert sorted(msg_id for msg_id, _ in stored) == sorted(ids)  # nothing twice, even after the replay
    assert [event.request_id for msg_id, event in stored if msg_id != ids[0]] == ids[1:]  # replayed in order


async def test_on_published_reports_each_events_stream_sequence(
    nats_url: str, nats_prefix: str, tmp_path: Path
) -> None:
    connection = await nats.connect(nats_url)
    seen: dict[str, int] = {}
    emitter = UsageEmitter(
        prefix=nats_prefix,
        connection=lambda: connection,
        spool=UsageSpool(tmp_path / "spool", max_bytes=1 << 20, logger=make_logger("critical")),
        logger=make_logger("critical"),
        on_published=lambda event, seq: seen.__setitem__(event.request_id, seq),
    )
    emitter.start()
    try:
        for number in range(1200):  # more than one batch
            emitter.emit(
                UsageEvent(
                    request_id=f"req-{number}",
                    time=1,
                    instance="i",
                    config_version=1,
                    method="POST",
                    path="/",
                    status=200,
                )
            )

        async def all_published() -> bool:
            return len(seen) == 1200

        await eventually(all_published, what="1200 acknowledgements")
    finally:
        await emitter.stop()
        await connection.close()
    stored = await stored_events(nats_url, nats_prefix)
    assert {msg_id: seq for seq, (msg_id, _) in enumerate(stored, start=1)} == seen
    assert [msg_id for msg_id, _ in stored] == [f"req-{n}" for n in range(1200)]  # in emission order


async def test_a_conversation_streamed_and_not_is_counted_the_same_with_cached_and_reasoning_tokens(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
) -> None:
    fake_openai.enqueue(
        ScriptedResponse(status=200, fixture="usage_details.json"),
        ScriptedResponse(status=200, fixture="stream_usage_details.sse"),
    )
    async with plane(dp_settings, test_secrets, provider_kind="openai_compatible", base_url=fake_openai.base_url) as gw:
        plain = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=CHAT)
        streamed = await gw.client.post("/v1/chat/completions", headers=gw.auth, json=STREAM_CHAT)
        events = await wait_for_events(nats_url, nats_prefix, 2)
    plain_event, streamed_event = (events[r.headers["x-request-id"]] for r in (plain, streamed))
    assert (
        plain_event.tokens == streamed_event.tokens == TokenUsage(input=86, cached_input=1920, output=44, reasoning=256)
    )
    assert not plain_event.estimated and not streamed_event.estimated
    assert plain_event.cost_micro_usd == streamed_event.cost_micro_usd


async def test_a_data_plane_that_boots_without_nats_delivers_its_spooled_events_once_nats_comes_up(
    own_nats: OwnNats, test_secrets: TestSecrets, tmp_path: Path
) -> None:
    own_nats.stop()
    prefix = unique_name("wpt")
    settings = make_settings(test_secrets, nats_url=own_nats.url, nats_prefix=prefix, cache_dir=tmp_path / "cache")
    key = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(test_secrets.secret_key, version=1, keys=[key.spec])
    write_disk_cache(settings.cache_dir, sign_snapshot(snapshot, test_secrets.signing_key))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dataplane", timeout=30) as client:
            auth = {"authorization": f"Bearer {key.token}"}
            responses = [await client.post("/v1/chat/completions", headers=auth, json=CHAT) for _ in range(4)]
            assert [r.status_code for r in responses] == [200] * 4  # served from the disk cache, NATS down

            runtime: Runtime = app.state.runtime

            async def spooled() -> bool:
                return runtime.usage is not None and runtime.usage.spooled == 4

            await eventually(spooled, what="4 spooled events")
            own_nats.start()
            events = await wait_for_events(own_nats.url, prefix, 4)
    assert list(events) == [r.headers["x-request-id"] for r in responses]
