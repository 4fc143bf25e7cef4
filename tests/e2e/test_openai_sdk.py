"""End to end with the official openai SDK: the gateway configured through the admin API, the data plane
serving a fake OpenAI upstream on loopback, key revocation enforced."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.e2e.gateway import Gateway, poll
from tests.fakes.openai_provider import FakeOpenAIProvider, load_fixture

ROUTE = "team-chat"
UPSTREAM_MODEL = "gpt-4.1-upstream"


@pytest.fixture(scope="module")
def key(gateway: Gateway, upstream: FakeOpenAIProvider) -> str:
    team = gateway.create("teams", {"name": "e2e"})
    provider = gateway.create(
        "providers",
        {
            "name": "fake-openai",
            "kind": "openai_compatible",
            "base_url": upstream.base_url,
            "credentials": {"api_key": upstream.api_key},
        },
    )
    deployment = gateway.create(
        "deployments", {"name": "fake-gpt", "provider_id": provider["id"], "model": UPSTREAM_MODEL}
    )
    gateway.create("routes", {"name": ROUTE, "targets": [deployment["id"]]})
    created = gateway.create("keys", {"name": "e2e", "team_id": team["id"], "environment": "dev"})
    gateway.wait_until_key_works(created["key"])
    return str(created["key"])


@pytest.fixture
def client(gateway: Gateway, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


@pytest.mark.conformance(provider="openai_compatible", ingress="chat", feature="text")
@pytest.mark.conformance(provider="openai_compatible", ingress="chat", feature="usage")
def test_chat_completion_reaches_the_upstream_with_its_model_and_credentials(
    client: openai.OpenAI, upstream: FakeOpenAIProvider, key: str
) -> None:
    expected = json.loads(load_fixture("good.json"))
    seen_before = len(upstream.requests)

    reply = client.chat.completions.create(model=ROUTE, messages=[{"role": "user", "content": "Hello"}])

    assert reply.choices[0].message.content == expected["choices"][0]["message"]["content"]
    assert reply.usage is not None and reply.usage.total_tokens == expected["usage"]["total_tokens"]
    forwarded = upstream.requests[seen_before]
    assert forwarded.path == "/v1/chat/completions"
    assert json.loads(forwarded.body)["model"] == UPSTREAM_MODEL
    assert forwarded.headers["authorization"] == f"Bearer {upstream.api_key}"
    assert key not in forwarded.body.decode() and all(key not in value for value in forwarded.headers.values())


@pytest.mark.conformance(provider="openai_compatible", ingress="chat", feature="stream_text")
@pytest.mark.conformance(provider="openai_compatible", ingress="chat", feature="stream_usage")
def test_streaming_chat_completion_is_assembled_by_the_sdk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=ROUTE,
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hi, how are you?"
    assert any(c.usage is not None and c.usage.total_tokens > 0 for c in chunks)


def test_models_list_shows_the_routes_the_key_may_call(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [ROUTE]


def test_response_headers_carry_request_id_and_overhead(gateway: Gateway, key: str) -> None:
    response = httpx.post(
        f"{gateway.openai_base_url}/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": ROUTE, "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) == 36
    assert float(response.headers["x-waypost-overhead-ms"]) >= 0


def test_a_bad_key_raises_authentication_error(gateway: Gateway) -> None:
    bad_key = "wp-dev-abcdefghijkl-" + "x" * 40
    sdk = openai.OpenAI(base_url=gateway.openai_base_url, api_key=bad_key, max_retries=0)
    with sdk, pytest.raises(openai.AuthenticationError) as raised:
        sdk.models.list()
    assert raised.value.status_code == 401
    assert bad_key not in raised.value.response.text


def test_an_unknown_model_raises_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-route", messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.code == "model_not_found"


def test_malformed_input_raises_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=ROUTE, messages="not a list")  # type: ignore[arg-type]
    assert raised.value.param is not None and "messages" in raised.value.param


def test_a_revoked_key_stops_working(gateway: Gateway, upstream: FakeOpenAIProvider) -> None:
    team_id = gateway.admin.get("/teams").json()["data"][0]["id"]
    created = gateway.create("keys", {"name": "to-revoke", "team_id": team_id, "environment": "dev"})
    gateway.wait_until_key_works(created["key"])
    models_url = f"{gateway.openai_base_url}/models"
    auth = {"Authorization": f"Bearer {created['key']}"}

    assert gateway.admin.post(f"/keys/{created['id']}/revoke").status_code == 200
    seconds = poll(lambda: httpx.get(models_url, headers=auth).status_code == 401, timeout=10)

    print(f"key revocation enforced by the data plane after {seconds * 1000:.0f} ms")
    sdk = openai.OpenAI(base_url=gateway.openai_base_url, api_key=created["key"], max_retries=0)
    with sdk, pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model=ROUTE, messages=[{"role": "user", "content": "Hi"}])


def test_config_status_waits_until_a_change_is_applied_by_every_data_plane(gateway: Gateway, key: str) -> None:
    gateway.create("teams", {"name": "status-check"})  # moves the revision; nothing a data plane serves changes
    team_id = gateway.admin.get("/teams").json()["data"][0]["id"]
    fresh = gateway.create("keys", {"name": "waited-for", "team_id": team_id, "environment": "dev"})

    status = gateway.admin.get("/config/status", params={"wait": 10}).json()

    assert status["converged"] is True
    assert status["published_through_revision"] >= status["revision"]
    applied = httpx.get(f"{gateway.dataplane_url}/status").json()
    assert [p["instance"] for p in status["dataplanes"]] == [applied["instance"]]
    assert applied["config_version"] == status["published_version"] and applied["stale"] is False
    # converged means enforced: the key created just before the wait works at once
    auth = {"Authorization": f"Bearer {fresh['key']}"}
    assert httpx.get(f"{gateway.openai_base_url}/models", headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 400),
        (b'{"model": 42, "messages": []}', 400),
        (b'{"model": "team-chat", "messages": [{"role": "user", "content": "Hi"}], "unknown_field": {"kept": 1}}', 200),
        (b"x" * 10_000_000, 413),
    ],
    ids=["malformed", "empty", "wrong-type", "unknown-field", "10MB"],
)
def test_bad_input_through_granian_gets_a_clear_4xx_in_openai_format(
    gateway: Gateway, upstream: FakeOpenAIProvider, key: str, body: bytes, status: int
) -> None:
    response = httpx.post(
        f"{gateway.openai_base_url}/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status
    if status >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    else:  # unknown fields are forwarded to the upstream untouched
        assert json.loads(upstream.requests[-1].body)["unknown_field"] == {"kept": 1}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 400),
        (b'{"name": 42}', 422),
        (b'{"name": "x", "bogus": 1}', 422),
        (b"x" * 10_000_000, 413),
    ],
    ids=["malformed", "empty", "wrong-type", "unknown-field", "10MB"],
)
def test_bad_input_to_the_admin_api_through_granian_gets_a_clear_4xx(
    gateway: Gateway, body: bytes, status: int
) -> None:
    response = gateway.admin.post("/teams", content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == status
    assert response.json()["error"]["type"] in {"invalid_json", "validation_error", "request_too_large"}


def test_a_rotated_key_works_with_both_secrets_until_the_grace_window_ends(gateway: Gateway) -> None:
    team_id = gateway.create("teams", {"name": "rotation"})["id"]
    old = gateway.create("keys", {"name": "to-rotate", "team_id": team_id, "environment": "dev"})
    gateway.wait_until_key_works(old["key"])
    rotated = gateway.admin.post(f"/keys/{old['id']}/rotate", json={"grace_seconds": 3})
    assert rotated.status_code == 200
    new_key = rotated.json()["key"]

    gateway.wait_until_key_works(new_key)
    models_url = f"{gateway.openai_base_url}/models"
    assert httpx.get(models_url, headers={"Authorization": f"Bearer {old['key']}"}).status_code == 200
    poll(
        lambda: httpx.get(models_url, headers={"Authorization": f"Bearer {old['key']}"}).status_code == 401, timeout=15
    )
    assert httpx.get(models_url, headers={"Authorization": f"Bearer {new_key}"}).status_code == 200


def test_environments_and_allow_lists_decide_what_a_key_may_call(gateway: Gateway, key: str) -> None:
    deployment_id = gateway.admin.get("/deployments").json()["data"][0]["id"]
    gateway.create("routes", {"name": "prod-only", "targets": [deployment_id], "environments": ["prod"]})
    gateway.create("routes", {"name": "experimental", "targets": [deployment_id]})
    team = gateway.create("teams", {"name": "limited", "models": [ROUTE, "prod-only"]})
    dev = gateway.create("keys", {"name": "dev", "team_id": team["id"], "environment": "dev"})
    prod = gateway.create("keys", {"name": "prod", "team_id": team["id"], "environment": "prod"})
    gateway.wait_until_key_works(dev["key"])
    gateway.wait_until_key_works(prod["key"])

    def models(api_key: str) -> list[str]:
        with openai.OpenAI(base_url=gateway.openai_base_url, api_key=api_key, max_retries=0) as sdk:
            return sorted(m.id for m in sdk.models.list())

    assert models(dev["key"]) == [ROUTE]  # prod-only: wrong environment; experimental: not on the team's list
    assert models(prod["key"]) == sorted([ROUTE, "prod-only"])
    assert models(key) == sorted([ROUTE, "experimental"])  # the first team has no list; prod-only stays prod's
    for route in ("prod-only", "experimental"):
        sdk = openai.OpenAI(base_url=gateway.openai_base_url, api_key=dev["key"], max_retries=0)
        with sdk, pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model=route, messages=[{"role": "user", "content": "Hi"}])


def test_a_weighted_route_splits_traffic_by_weight_and_keeps_assignments_stable(gateway: Gateway, key: str) -> None:
    mock = gateway.create("providers", {"name": "mock-ab", "kind": "mock"})
    blue = gateway.create("deployments", {"name": "blue", "provider_id": mock["id"], "model": "mock-blue"})
    green = gateway.create("deployments", {"name": "green", "provider_id": mock["id"], "model": "mock-green"})
    gateway.create(
        "routes", {"name": "ab-test", "targets": [blue["id"], green["id"]], "strategy": "weighted", "weights": [3, 1]}
    )
    assert gateway.admin.get("/config/status", params={"wait": 10}).json()["converged"] is True
    body = {"model": "ab-test", "messages": [{"role": "user", "content": "Hi"}]}
    url = f"{gateway.openai_base_url}/chat/completions"

    with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as client:
        served = Counter(client.post(url, json=body).headers["x-waypost-target"] for _ in range(1000))
        sticky = {
            client.post(url, json=body, headers={"x-waypost-assignment-id": "user-42"}).headers["x-waypost-target"]
            for _ in range(50)
        }

    sigma = (1000 * 0.75 * 0.25) ** 0.5
    assert set(served) == {"blue", "green"} and abs(served["blue"] - 750) < 5 * sigma, served
    assert len(sticky) == 1
