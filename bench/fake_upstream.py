"""The OpenAI-shaped fake upstream's bodies (JSON, and SSE with 20 content chunks + a usage chunk), and the Python
(aiohttp) server that serves them with an optional fixed latency. `make bench` serves the same bodies from nginx
(bench/nginx.py), which measures several times faster; this server stays for latency runs and for comparison.

Paths: /json/v1/chat/completions always answers JSON, /sse/v1/chat/completions always a stream, so every gateway is
pointed at base URL .../json/v1 or .../sse/v1 and the fake never parses a body; /v1/chat/completions picks by the
body's "stream" flag.

Run: python -m bench.fake_upstream PORT [LATENCY_MS]
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

COMPLETION = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}'
)


def _chunk(content: str, finish: str | None = None) -> bytes:
    delta = "{}" if finish else '{"content":"' + content + '"}'
    finish_json = "null" if finish is None else f'"{finish}"'
    return (
        b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model",'
        + f'"choices":[{{"index":0,"delta":{delta},"finish_reason":{finish_json}}}]}}\n\n'.encode()
    )


STREAM = (
    b"".join(_chunk(f"word{i} ") for i in range(20))
    + _chunk("", "stop")
    + b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model",'
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}\n\n'
    b"data: [DONE]\n\n"
)


def make_app(latency_ms: float) -> web.Application:
    async def answer(stream: bool) -> web.Response:
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        if stream:
            return web.Response(body=STREAM, content_type="text/event-stream")
        return web.Response(body=COMPLETION, content_type="application/json")

    async def chat(request: web.Request) -> web.Response:
        body = await request.read()
        return await answer(b'"stream":true' in body.replace(b" ", b""))

    async def json_chat(request: web.Request) -> web.Response:
        await request.read()
        return await answer(False)

    async def sse_chat(request: web.Request) -> web.Response:
        await request.read()
        return await answer(True)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/json/v1/chat/completions", json_chat)
    app.router.add_post("/sse/v1/chat/completions", sse_chat)
    return app


if __name__ == "__main__":
    port = int(sys.argv[1])
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    web.run_app(make_app(latency), host="127.0.0.1", port=port, access_log=None, print=None)
