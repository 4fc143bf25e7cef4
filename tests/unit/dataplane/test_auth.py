from __future__ import annotations

import msgspec
import pytest

from dataplane.auth import authenticate
from dataplane.config_state import ConfigView, build_config_view
from dataplane.errors import InvalidApiKeyError
from shared.apikeys import format_key, parse_key
from tests.conftest import TestSecrets
from tests.snapshot_factory import ClientKey, make_key, make_snapshot, master_secret
from tests.unit.dataplane.conftest import NOW, Gateway, GatewayFactory, bearer

INVALID_KEY_BODY = {
    "error": {"message": "Invalid API key.", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
}


def _view(test_secrets: TestSecrets, *keys: ClientKey) -> ConfigView:
    snapshot = make_snapshot(test_secrets.secret_key, version=1, keys=[k.spec for k in keys])
    return build_config_view(snapshot, master_secret(test_secrets.secret_key))


def _check(test_secrets: TestSecrets, view: ConfigView, header: str | None, now: float = NOW) -> str:
    return authenticate(header, view=view, master=master_secret(test_secrets.secret_key), now=now).public_id


def test_valid_key_authenticates_as_its_spec(test_secrets: TestSecrets) -> None:
    key = make_key(test_secrets.secret_key)
    view = _view(test_secrets, key, make_key(test_secrets.secret_key))
    assert _check(test_secrets, view, f"Bearer {key.token}") == key.spec.public_id
    assert _check(test_secrets, view, f"bearer {key.token}") == key.spec.public_id


def test_wrong_secret_is_refused(test_secrets: TestSecrets) -> None:
    key = make_key(test_secrets.secret_key)
    parsed = parse_key(key.token)
    assert parsed is not None
    forged = format_key(parsed.environment, parsed.public_id, "x" * len(parsed.secret))
    with pytest.raises(InvalidApiKeyError):
        _check(test_secrets, _view(test_secrets, key), f"Bearer {forged}")


def test_key_presented_for_another_environment_is_refused(test_secrets: TestSecrets) -> None:
    key = make_key(test_secrets.secret_key, environment="dev")
    parsed = parse_key(key.token)
    assert parsed is not None
    other_env = format_key("prod", parsed.public_id, parsed.secret)
    with pytest.raises(InvalidApiKeyError):
        _check(test_secrets, _view(test_secrets, key), f"Bearer {other_env}")


def test_expired_key_is_refused_from_its_expiry_second(test_secrets: TestSecrets) -> None:
    key = make_key(test_secrets.secret_key, expires_at=int(NOW))
    view = _view(test_secrets, key)
    assert _check(test_secrets, view, f"Bearer {key.token}", now=NOW - 1) == key.spec.public_id
    for now in (NOW, NOW + 3600):
        with pytest.raises(InvalidApiKeyError):
            _check(test_secrets, view, f"Bearer {key.token}", now=now)


def test_unknown_public_id_is_refused(test_secrets: TestSecrets) -> None:
    known = make_key(test_secrets.secret_key)
    stranger = make_key(test_secrets.secret_key)
    with pytest.raises(InvalidApiKeyError):
        _check(test_secrets, _view(test_secrets, known), f"Bearer {stranger.token}")


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer sk-not-a-waypost-key", "Bearer wp-dev-short-x"],
)
def test_malformed_authorization_is_refused(test_secrets: TestSecrets, header: str | None) -> None:
    key = make_key(test_secrets.secret_key)
    with pytest.raises(InvalidApiKeyError):
        _check(test_secrets, _view(test_secrets, key), header)


async def test_refusal_is_openai_401_without_any_part_of_the_key(
    gateway_factory: GatewayFactory, test_secrets: TestSecrets, capsys: pytest.CaptureFixture[str]
) -> None:
    key = make_key(test_secrets.secret_key)
    parsed = parse_key(key.token)
    assert parsed is not None
    wrong = format_key(parsed.environment, parsed.public_id, "Z" * 40)
    async with gateway_factory(key=key) as gw:
        response = await gw.client.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {wrong}"},
            json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code == 401
    assert msgspec.json.decode(response.content) == INVALID_KEY_BODY
    assert response.headers["x-should-retry"] == "false"
    logs = capsys.readouterr().out
    for fragment in (wrong, parsed.public_id, parsed.secret, "Z" * 40):
        assert fragment not in response.text
        assert fragment not in str(response.headers)
        assert fragment not in logs
    assert '"error_code":"invalid_api_key"' in logs


async def test_models_lists_only_routes_the_key_may_use(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/models", headers=bearer(gateway.key))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["gpt-test"]
    assert (await gateway.client.get("/v1/models")).status_code == 401


async def test_models_hides_routes_outside_the_keys_allow_list(
    gateway_factory: GatewayFactory, test_secrets: TestSecrets
) -> None:
    key = make_key(test_secrets.secret_key, models=["some-other-route"])
    async with gateway_factory(key=key) as gw:
        listed = await gw.client.get("/v1/models", headers=bearer(key))
        refused = await gw.client.post(
            "/v1/chat/completions",
            headers=bearer(key),
            json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert listed.json()["data"] == []
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "model_not_found"


def test_a_rotated_keys_old_secret_works_until_its_grace_window_ends(test_secrets: TestSecrets) -> None:
    old = make_key(test_secrets.secret_key)
    parsed = parse_key(old.token)
    assert parsed is not None
    new_secret = "N" * 40
    new_token = format_key(parsed.environment, parsed.public_id, new_secret)
    rotated = msgspec.structs.replace(
        old.spec,
        secret_hash=master_secret(test_secrets.secret_key).hash_key_secret(new_secret),
        previous_secret_hash=old.spec.secret_hash,
        previous_valid_until=int(NOW) + 60,
    )
    view = _view(test_secrets, ClientKey(spec=rotated, token=new_token))

    assert _check(test_secrets, view, f"Bearer {new_token}") == parsed.public_id
    assert _check(test_secrets, view, f"Bearer {old.token}", now=NOW + 59) == parsed.public_id
    for now in (NOW + 60, NOW + 3600):
        with pytest.raises(InvalidApiKeyError):
            _check(test_secrets, view, f"Bearer {old.token}", now=now)
    assert _check(test_secrets, view, f"Bearer {new_token}", now=NOW + 3600) == parsed.public_id
