"""Where Bedrock calls go and how they are signed: the region rule, the Converse URLs (signed byte for byte as
aiohttp sends them), SigV4 for service `bedrock` with temporary credentials, and a provider without AWS keys."""

from __future__ import annotations

import pytest
import yarl

from dataplane.config_state import ProviderCredentials
from dataplane.errors import UpstreamAuthError
from dataplane.providers import bedrock, bedrock_auth
from tests.fakes.bedrock_provider import ACCESS_KEY_ID, SECRET_ACCESS_KEY


@pytest.mark.parametrize(
    ("base_url", "region"),
    [
        ("https://bedrock-runtime.eu-west-1.amazonaws.com", "eu-west-1"),
        ("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/", "us-gov-west-1"),
        ("https://vpce-0abc-xyz.bedrock-runtime.ap-south-1.vpce.amazonaws.com", "ap-south-1"),
        ("http://127.0.0.1:8080?region=eu-central-1", "eu-central-1"),
        ("https://bedrock-runtime.eu-west-1.amazonaws.com?region=eu-west-3", "eu-west-3"),
        ("http://127.0.0.1:8080", "us-east-1"),
    ],
)
def test_the_region_comes_from_the_query_then_the_host_then_the_default(base_url: str, region: str) -> None:
    assert bedrock_auth.region_of(base_url) == region


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
            "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1:0"
            "/converse",
        ),
    ],
)
def test_the_signed_url_is_the_url_aiohttp_sends(model: str, path: str) -> None:
    url = bedrock_auth.converse_url("http://127.0.0.1:8080/?region=eu-west-1", model, stream=False)
    assert url == f"http://127.0.0.1:8080{path}"
    assert yarl.URL(url).raw_path == path  # what aiohttp's client puts on the wire


def test_requests_are_signed_for_bedrock_in_the_region_with_the_session_token() -> None:
    credentials = ProviderCredentials(
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY, aws_session_token="token-1"
    )
    request = bedrock.build_request(
        b"{}",
        base_url="https://bedrock-runtime.eu-west-1.amazonaws.com",
        model="m",
        credentials=credentials,
        stream=True,
        timeout_seconds=5,
        connect_timeout_seconds=1,
    )
    assert request.url == "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse-stream"
    authorization = request.headers["Authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert "/eu-west-1/bedrock/aws4_request" in authorization and SECRET_ACCESS_KEY not in authorization
    assert request.headers["X-Amz-Security-Token"] == "token-1"
    assert request.headers["accept"] == "application/vnd.amazon.eventstream"


def test_a_provider_without_aws_keys_is_a_credentials_failure() -> None:
    with pytest.raises(UpstreamAuthError):
        bedrock.build_request(
            b"{}",
            base_url="http://127.0.0.1:1",
            model="m",
            credentials=ProviderCredentials(api_key="k"),
            stream=False,
            timeout_seconds=5,
            connect_timeout_seconds=1,
        )
