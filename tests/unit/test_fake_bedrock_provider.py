"""The fake Bedrock frames its streams the way botocore reads them, and accepts exactly the requests signed with
its own credentials (recomputing SigV4 with botocore), refusing the others as Bedrock does."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from dataplane.config_state import ProviderCredentials
from dataplane.providers import bedrock_auth
from tests.fakes.bedrock_provider import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    FakeBedrock,
    encode_frame,
    error_reply,
    stream_frames,
)

GOOD = ProviderCredentials(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def test_encoded_frames_decode_with_botocore_headers_payload_and_checksums() -> None:
    frame = encode_frame({":event-type": "messageStart", ":message-type": "event"}, b'{"role":"assistant"}')
    buffer = EventStreamBuffer()
    buffer.add_data(frame[:7])
    assert list(buffer) == []  # not even a whole prelude yet
    buffer.add_data(frame[7:] + frame)
    first, second = list(buffer)
    assert first.headers == {":event-type": "messageStart", ":message-type": "event"}
    assert first.payload == b'{"role":"assistant"}'
    assert second.payload == first.payload
    corrupt = bytearray(frame)
    corrupt[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    broken = EventStreamBuffer()
    broken.add_data(bytes(corrupt))
    with pytest.raises(ChecksumMismatch):
        list(broken)


def test_stream_fixtures_become_event_and_exception_messages() -> None:
    with FakeBedrock() as fake:
        buffer = EventStreamBuffer()
        for frame in stream_frames(fake.fixture("converse-stream/stream_throttled.json")):
            buffer.add_data(frame)
        messages = list(buffer)
    assert [m.headers.get(":event-type") or m.headers[":exception-type"] for m in messages] == [
        "messageStart",
        "contentBlockDelta",
        "throttlingException",
    ]
    assert messages[-1].headers[":message-type"] == "exception"
    assert msgspec.json.decode(messages[-1].payload) == {
        "message": "Too many requests, please wait before trying again."
    }


def signed_post(
    fake: FakeBedrock, credentials: ProviderCredentials, body: bytes, *, tamper: bool = False
) -> httpx.Response:
    url = bedrock_auth.converse_url(fake.base_url, MODEL, stream=False)
    headers = bedrock_auth.signed_headers(
        url,
        body,
        {"content-type": "application/json"},
        credentials=credentials,
        region=bedrock_auth.region_of(fake.base_url),
    )
    return httpx.post(url, headers=headers, content=body + (b" " if tamper else b""))


def test_fake_accepts_only_requests_signed_with_its_credentials() -> None:
    body = b'{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}'
    wrong_secret = ProviderCredentials(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key="not-the-secret")
    unknown_key = ProviderCredentials(aws_access_key_id="AKIAUNKNOWN", aws_secret_access_key=SECRET_ACCESS_KEY)
    with FakeBedrock() as fake:
        good = signed_post(fake, GOOD, body)
        tampered = signed_post(fake, GOOD, body, tamper=True)
        bad_secret = signed_post(fake, wrong_secret, body)
        bad_key = signed_post(fake, unknown_key, body)
        unsigned = httpx.post(fake.origin + f"/model/{MODEL}/converse", content=body)
    assert good.status_code == 200 and good.content == fake.fixture("converse/good.json")
    assert fake.requests[0].path == "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"
    for refused in (tampered, bad_secret, unsigned):
        assert refused.status_code == 403
        assert refused.headers["x-amzn-errortype"].startswith("InvalidSignatureException:")
    assert bad_key.status_code == 403 and bad_key.content == fake.fixture("converse/unrecognized_client_exception.json")
    assert fake.refused == [
        "InvalidSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    ]


def test_fake_checks_the_session_token_of_temporary_credentials() -> None:
    temporary = ProviderCredentials(
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY, aws_session_token="session-1"
    )
    with FakeBedrock(session_token="session-1") as fake:
        fake.enqueue(error_reply("ThrottlingException"))
        throttled = signed_post(fake, temporary, b"{}")
        without_token = signed_post(fake, GOOD, b"{}")
    assert throttled.status_code == 429 and throttled.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert fake.requests[0].headers["x-amz-security-token"] == "session-1"
    assert without_token.status_code == 403 and fake.refused == ["UnrecognizedClientException"]
