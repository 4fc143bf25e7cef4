"""Where a Bedrock provider's calls go and how they are signed: the Converse URLs under its base URL, the AWS
region, and AWS Signature Version 4 (service `bedrock`) computed by botocore, never by hand.

The region rule: a `?region=<name>` query on the provider's base URL wins (it is configuration, never sent
upstream); otherwise the label after `bedrock-runtime` (or `bedrock-runtime-fips`) in the host, as in
`https://bedrock-runtime.eu-west-1.amazonaws.com` or a VPC endpoint
`https://vpce-0abc.bedrock-runtime.eu-west-1.vpce.amazonaws.com`; otherwise `us-east-1`.

botocore reads the UTC clock itself when it signs (AWS refuses a signature more than 5 minutes off), so signing
is the one step of the Bedrock path that is not a pure function of its inputs."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dataplane.config_state import ProviderCredentials
from dataplane.errors import UpstreamAuthError

SERVICE = "bedrock"
DEFAULT_REGION = "us-east-1"
_RUNTIME_LABELS = frozenset({"bedrock-runtime", "bedrock-runtime-fips"})


def region_of(base_url: str) -> str:
    """The AWS region the base URL's calls are signed for (see the module's rule)."""
    parts = urlsplit(base_url)
    explicit = parse_qs(parts.query).get("region")
    if explicit and explicit[0]:
        return explicit[0]
    labels = (parts.hostname or "").split(".")
    for position, label in enumerate(labels[:-1]):
        if label in _RUNTIME_LABELS:
            return labels[position + 1]
    return DEFAULT_REGION


def converse_url(base_url: str, model: str, *, stream: bool) -> str:
    """`{base_url}/model/{modelId}/converse` (or `converse-stream`), without the base URL's query.

    The model id is percent-encoded except `:`, which HTTP clients (aiohttp's yarl) send unencoded anyway: the
    URL signed is then byte for byte the URL sent. A `/` (inference profile ARNs) stays encoded as `%2F`."""
    parts = urlsplit(base_url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
    operation = "converse-stream" if stream else "converse"
    return f"{base}/model/{quote(model, safe=':')}/{operation}"


def signed_headers(
    url: str, body: bytes, headers: dict[str, str], *, credentials: ProviderCredentials, region: str
) -> dict[str, str]:
    """`headers` plus `X-Amz-Date`, `X-Amz-Security-Token` (temporary credentials) and `Authorization`."""
    if not credentials.aws_access_key_id or not credentials.aws_secret_access_key:
        raise UpstreamAuthError("The Bedrock provider has no AWS access key configured.")
    aws_credentials = Credentials(
        credentials.aws_access_key_id, credentials.aws_secret_access_key, credentials.aws_session_token
    )
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(aws_credentials, SERVICE, region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}
