"""`quanta serve` against real clients: the official `openai` package (PyPI) and raw sockets.

Runs a real `quanta serve` process on loopback over a tiny synthetic model (`quanta synth --preset
tiny`, 2.3M parameters, no chat template: chat requests use chatml). QUANTA_BIN names the binary
(default .build/debug/quanta). Every loop here is bounded in count and time.
"""

import asyncio
import http.client
import json
import math
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

import openai
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUANTA = os.environ.get("QUANTA_BIN", os.path.join(ROOT, ".build", "debug", "quanta"))


@pytest.fixture(scope="session")
def model_path():
    d = tempfile.mkdtemp(prefix="quanta-serve-py-")
    path = os.path.join(d, "tiny.gguf")
    subprocess.run([QUANTA, "synth", "--arch", "llama", "--preset", "tiny", "--type", "Q8_0", path],
                   check=True, capture_output=True, timeout=120)
    return path


class Server:
    """A `quanta serve` process on a free loopback port."""

    def __init__(self, model, *args):
        self.proc = subprocess.Popen(
            [QUANTA, "serve", "-m", model, "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("quanta serve did not start: " + self.proc.stderr.read())
        # Drain stderr so the process never blocks on a full pipe.
        self.log = []
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def client(self, **kw):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=kw.pop("api_key", "none"), max_retries=0,
                             timeout=120, **kw)

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        c.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        payload = r.read()
        c.close()
        return r.status, payload

    def json(self, method, path, body=None, headers=None):
        status, payload = self.request(method, path, body, headers)
        return status, json.loads(payload)

    def metric(self, name):
        _, text = self.request("GET", "/metrics")
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(model_path):
    s = Server(model_path, "-np", "4", "-c", "2048", "--queue-size", "64")
    yield s
    s.stop()
    assert s.proc.returncode == 0, "".join(s.log)


MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something."}]


def test_chat_non_stream(server):
    r = server.client().chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=8, temperature=0)
    assert r.object == "chat.completion"
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert 1 <= r.usage.completion_tokens <= 8
    if choice.finish_reason == "length":
        assert r.usage.completion_tokens == 8
    assert r.usage.prompt_tokens > 10
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_stream_matches_non_stream(server):
    client = server.client()
    plain = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=12, temperature=0)
    stream = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=12, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    text, finish, usage, roles = "", None, None, []
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.role:
                roles.append(c.delta.role)
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert roles == ["assistant"]
    assert text == plain.choices[0].message.content
    assert finish == plain.choices[0].finish_reason
    assert usage.completion_tokens == plain.usage.completion_tokens
    assert usage.prompt_tokens == plain.usage.prompt_tokens


def test_completion_stream_and_not(server):
    client = server.client()
    plain = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=10, temperature=0)
    assert plain.object == "text_completion"
    assert 1 <= plain.usage.completion_tokens <= 10
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny", prompt="Once upon a time", max_tokens=10, temperature=0, stream=True) if c.choices)
    assert streamed == plain.choices[0].text


def test_max_tokens(server):
    client = server.client()
    for n in (1, 3, 7):
        r = client.completions.create(model="tiny", prompt="Count", max_tokens=n, temperature=0)
        assert r.usage.completion_tokens <= n
        assert r.choices[0].finish_reason == ("length" if r.usage.completion_tokens == n else "stop")
        # llama-server's ignore_eos: the end-of-generation ids are never sampled, so exactly n.
        r = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=n, extra_body={"ignore_eos": True})
        assert r.usage.completion_tokens == n
        assert r.choices[0].finish_reason == "length"


def test_stop_sequences(server):
    client = server.client()
    full = client.completions.create(model="tiny", prompt="The story", max_tokens=24, temperature=0)
    text = full.choices[0].text
    assert len(text) >= 8, f"greedy reply too short to cut: {text!r}"
    stop = text[4:6]
    cut = text[:text.index(stop)]
    for stops in (stop, [stop], ["\u2603never", stop]):
        r = client.completions.create(model="tiny", prompt="The story", max_tokens=24, temperature=0, stop=stops)
        assert r.choices[0].text == cut
        assert r.choices[0].finish_reason == "stop"
    # The same through a stream: no part of the stop string is sent.
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny", prompt="The story", max_tokens=24, temperature=0, stop=stop, stream=True) if c.choices)
    assert streamed == cut


def test_seed_reproducible(server):
    client = server.client()
    a = client.completions.create(model="tiny", prompt="Random", max_tokens=8, temperature=1.0, seed=42)
    b = client.completions.create(model="tiny", prompt="Random", max_tokens=8, temperature=1.0, seed=42)
    assert a.choices[0].text == b.choices[0].text


def test_models_health_tokenize(server):
    models = server.client().models.list()
    assert [m.id for m in models.data] == ["tiny.gguf"]
    status, health = server.json("GET", "/health")
    assert status == 200 and health["status"] == "ok"
    status, tok = server.json("POST", "/tokenize", {"content": "hello world"})
    assert status == 200 and len(tok["tokens"]) > 0
    status, detok = server.json("POST", "/detokenize", {"tokens": tok["tokens"]})
    assert status == 200 and "hello" in detok["content"]


def test_error_cases(server):
    client = server.client()
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=MESSAGES, n=2)
    assert e.value.status_code == 400
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny", prompt="x", max_tokens=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="tiny", prompt="word " * 2000)
    assert "context" in e.value.message
    status, body = server.json("POST", "/v1/chat/completions", b'{"messages": [')
    assert status == 400 and body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == 400
    status, body = server.json("POST", "/v1/completions", b"x" * (9 << 20))
    assert status == 413 and body["error"]["code"] == 413
    status, body = server.json("GET", "/v1/nothing")
    assert status == 404 and "error" in body
    # Still serving.
    assert client.completions.create(model="tiny", prompt="ok", max_tokens=2).usage.completion_tokens >= 1


def test_api_key(model_path):
    s = Server(model_path, "--api-key", "sekret")
    try:
        with pytest.raises(openai.AuthenticationError):
            s.client(api_key="wrong").completions.create(model="tiny", prompt="x", max_tokens=1)
        status, body = s.json("POST", "/v1/completions", {"prompt": "x", "max_tokens": 1})
        assert status == 401 and body["error"]["type"] == "authentication_error"
        r = s.client(api_key="sekret").completions.create(model="tiny", prompt="x", max_tokens=1)
        assert r.usage.completion_tokens == 1 or r.choices[0].finish_reason == "stop"
        assert s.json("GET", "/health")[0] == 200
    finally:
        s.stop()
    assert s.proc.returncode == 0


def open_stream(port, body):
    """Sends a streaming request on a raw socket and reads until the first data event."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    got = b""
    while b"data: " not in got:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before the first event"
        got += chunk
    return sock, got


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_queue_full_503_and_disconnect_frees_slot(model_path):
    s = Server(model_path, "-np", "1", "--queue-size", "0")
    try:
        sock, _ = open_stream(s.port, {"prompt": "go on", "max_tokens": 100000, "stream": True, "ignore_eos": True})
        assert s.json("GET", "/health")[1]["slots_processing"] == 1
        with pytest.raises(openai.InternalServerError) as e:
            s.client().completions.create(model="tiny", prompt="x", max_tokens=2)
        assert e.value.status_code == 503
        sock.close()
        # The slot is freed at once, not when the long generation would have ended.
        assert wait_for(lambda: s.json("GET", "/health")[1]["slots_processing"] == 0, 3)
        assert s.metric("quanta_requests_cancelled_total") == 1
        r = s.client().completions.create(model="tiny", prompt="x", max_tokens=2)
        assert r.usage.completion_tokens >= 1
    finally:
        s.stop()
    assert s.proc.returncode == 0


def test_load_32_concurrent_streams(model_path):
    """32 streaming clients at once, two rounds: each completes or gets a clean 503; RSS stays flat."""
    s = Server(model_path, "-np", "4", "-c", "2048", "--queue-size", "64")

    async def one(client, i):
        try:
            stream = await client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": f"client {i}: tell a story"}],
                max_tokens=8, temperature=0.7, seed=i, stream=True)
            finish = None
            async for chunk in stream:
                for c in chunk.choices:
                    finish = c.finish_reason or finish
            return "ok" if finish in ("stop", "length") else f"no finish_reason ({finish})"
        except openai.APIStatusError as e:
            return "503" if e.status_code == 503 else f"status {e.status_code}"

    async def round_():
        # Generous bounds: a loaded 2-core machine runs a round of the debug build in about a minute.
        client = openai.AsyncOpenAI(base_url=s.base + "/v1", api_key="none", max_retries=0, timeout=300)
        try:
            return await asyncio.wait_for(asyncio.gather(*(one(client, i) for i in range(32))), timeout=600)
        finally:
            await client.close()

    try:
        first = asyncio.run(round_())
        rss1 = s.rss_kib()
        second = asyncio.run(round_())
        rss2 = s.rss_kib()
        for results in (first, second):
            assert all(r in ("ok", "503") for r in results), results
            # The queue holds 64: every one of the 32 is served.
            assert results.count("ok") == 32, results
        assert s.proc.poll() is None
        assert rss2 <= rss1 + 32 * 1024, (rss1, rss2)
        assert s.json("GET", "/health")[1]["slots_processing"] == 0
    finally:
        s.stop()
    assert s.proc.returncode == 0


def test_sigterm_with_streams_in_flight(model_path):
    s = Server(model_path, "-np", "2", "--queue-size", "4", "--shutdown-timeout", "1")
    socks = [open_stream(s.port, {"prompt": f"stream {i}", "max_tokens": 100000, "stream": True,
                                           "ignore_eos": True})[0]
             for i in range(2)]
    started = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    s.proc.wait(timeout=30)
    assert s.proc.returncode == 0, "".join(s.log)
    assert time.monotonic() - started < 15
    # Each stream ended cleanly: its last event is the shutdown error, then the connection closed.
    for sock in socks:
        rest = b""
        sock.settimeout(10)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        sock.close()
        assert b"shutting down" in rest


# A nested schema: every property bounded (enum, lengths, item counts), so any path through its
# grammar ends within max_tokens.
PET_SCHEMA = {
    "type": "object",
    "properties": {
        "kind": {"enum": ["cat", "dog"]},
        "age": {"type": "integer"},
        "name": {"type": "string", "minLength": 1, "maxLength": 8},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "minItems": 1, "maxItems": 2},
        "owner": {"type": "object", "properties": {"ok": {"type": "boolean"}, "w": {"type": "number"}},
                  "required": ["ok", "w"], "additionalProperties": False},
    },
    "required": ["kind", "age", "name", "tags", "owner"],
    "additionalProperties": False,
}


def check_pet(text):
    """PET_SCHEMA's constraints, checked by hand on Python's json parse."""
    pet = json.loads(text)
    assert set(pet) == {"kind", "age", "name", "tags", "owner"}, text
    assert pet["kind"] in ("cat", "dog")
    assert isinstance(pet["age"], int) and not isinstance(pet["age"], bool)
    assert isinstance(pet["name"], str) and 1 <= len(pet["name"]) <= 8
    assert isinstance(pet["tags"], list) and 1 <= len(pet["tags"]) <= 2
    assert all(isinstance(t, str) and len(t) <= 4 for t in pet["tags"])
    assert set(pet["owner"]) == {"ok", "w"} and isinstance(pet["owner"]["ok"], bool)
    assert isinstance(pet["owner"]["w"], (int, float)) and not isinstance(pet["owner"]["w"], bool)
    return pet


def test_response_format_json_schema(server):
    client = server.client()
    texts = []
    for seed in (1, 2, 3):
        r = client.chat.completions.create(
            model="tiny", messages=MESSAGES, max_tokens=400, seed=seed, temperature=1.0,
            response_format={"type": "json_schema", "json_schema": {"name": "pet", "schema": PET_SCHEMA}})
        assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
        texts.append(r.choices[0].message.content)
        check_pet(texts[-1])
    # llama-server's json_schema field, on the completions endpoint, streamed.
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny", prompt="pet:", max_tokens=400, seed=4, stream=True, extra_body={"json_schema": PET_SCHEMA})
        if c.choices)
    check_pet(streamed)
    # And by the jsonschema package's validator (scripts/setup.sh installs it).
    import jsonschema
    for t in texts + [streamed]:
        jsonschema.validate(json.loads(t), PET_SCHEMA)


def test_response_format_json_object_and_grammar(server):
    client = server.client()
    # json_object: any JSON object; a bias toward closing characters lets a random model end it.
    closers = {}
    for ch in ("}", "]", '"'):
        _, tok = server.json("POST", "/tokenize", {"content": ch})
        if len(tok["tokens"]) == 1:
            closers[str(tok["tokens"][0])] = 8
    r = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=600, seed=5,
                                       response_format={"type": "json_object"}, logit_bias=closers)
    assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    # llama-server's grammar field (GBNF).
    r = client.completions.create(model="tiny", prompt="x", max_tokens=20, temperature=1.0, seed=6,
                                  extra_body={"grammar": 'root ::= ("yes" | "no") " " [0-9]{2}'})
    assert re.fullmatch(r"(yes|no) [0-9]{2}", r.choices[0].text), r.choices[0].text
    assert r.choices[0].finish_reason == "stop"
    # Errors: a bad grammar (with its position), an unsupported schema keyword, two constraints.
    status, body = server.json("POST", "/v1/completions", {"prompt": "x", "grammar": 'root ::= "a'})
    assert status == 400 and "line 1, column 10" in body["error"]["message"], body
    status, body = server.json("POST", "/v1/chat/completions", {
        "messages": MESSAGES, "response_format": {"type": "json_schema", "json_schema": {
            "name": "x", "schema": {"type": "string", "pattern": "^a+$"}}}})
    assert status == 400 and "'pattern'" in body["error"]["message"], body
    status, body = server.json("POST", "/v1/completions", {"prompt": "x", "grammar": 'root ::= "a"',
                                                           "json_schema": {"type": "string"}})
    assert status == 400, body
    status, body = server.json("POST", "/v1/completions", {"prompt": "x", "response_format": {"type": "xml"}})
    assert status == 400 and "response_format" in body["error"]["message"], body


def test_chat_logprobs(server):
    client = server.client()
    r = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=10, temperature=0,
                                       logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert r.choices[0].finish_reason == "length", r.choices[0].message.content
    assert len(content) == r.usage.completion_tokens == 10
    assert b"".join(bytes(e.bytes) for e in content).decode() == r.choices[0].message.content
    for e in content:
        assert len(e.top_logprobs) == 3
        tops = [t.logprob for t in e.top_logprobs]
        assert tops == sorted(tops, reverse=True) and all(t <= 0 for t in tops)
        assert sum(math.exp(t) for t in tops) <= 1 + 1e-5
        # Greedy: the chosen token is the most likely one.
        assert e.token == e.top_logprobs[0].token and abs(e.logprob - tops[0]) < 1e-6
    # The model's distribution, not the sampler's: the first token's alternatives do not depend on
    # the temperature (1.7 would scale them by 1/1.7). Not bit-equal: this prompt's prefix now comes
    # from the slot's cache, so its last token goes through a one-row pass instead of the prompt batch.
    hot = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=1, temperature=1.7, seed=3,
                                         logprobs=True, top_logprobs=3)
    first = hot.choices[0].logprobs.content[0]
    assert [t.token for t in first.top_logprobs] == [t.token for t in content[0].top_logprobs]
    for hot_t, cold_t in zip(first.top_logprobs, content[0].top_logprobs):
        assert abs(hot_t.logprob - cold_t.logprob) < 0.03, (first, content[0])
    # top_logprobs absent: the sampled token alone. Streamed: the same entries, chunk by chunk.
    r0 = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=10, temperature=0, logprobs=True)
    assert [e.top_logprobs for e in r0.choices[0].logprobs.content] == [[]] * 10
    streamed = []
    for chunk in client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=10, temperature=0,
                                                logprobs=True, top_logprobs=3, stream=True):
        for c in chunk.choices:
            if c.logprobs is not None and c.logprobs.content:
                streamed += c.logprobs.content
    assert [(e.token, [t.token for t in e.top_logprobs]) for e in streamed] == \
        [(e.token, [t.token for t in e.top_logprobs]) for e in content]
    assert all(abs(a.logprob - b.logprob) < 0.03 for a, b in zip(streamed, content))
    # Without logprobs: null.
    assert client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=2).choices[0].logprobs is None


def test_completion_logprobs(server):
    client = server.client()
    r = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=8, temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    n = r.usage.completion_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    # A token that is not whole UTF-8 (this random model makes some) is written without those bytes,
    # as llama-server does; the text has U+FFFD there.
    assert "".join(lp.tokens) == r.choices[0].text.replace("\ufffd", "")
    assert lp.text_offset[0] == 0
    assert all(lp.text_offset[i + 1] == lp.text_offset[i] + len(lp.tokens[i]) for i in range(n - 1))
    for tok, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert 1 <= len(top) <= 2 and logprob <= 0
        assert abs(max(top.values()) - logprob) < 1e-6 and tok in top
    streamed = [c.choices[0].logprobs for c in client.completions.create(
        model="tiny", prompt="Once upon a time", max_tokens=8, temperature=0, logprobs=2, stream=True)
        if c.choices and c.choices[0].logprobs is not None]
    assert sum((s.tokens for s in streamed), []) == lp.tokens
    assert sum((s.text_offset for s in streamed), []) == lp.text_offset


def test_logprobs_errors(server):
    for body in ({"messages": MESSAGES, "logprobs": True, "top_logprobs": 21},
                 {"messages": MESSAGES, "logprobs": True, "top_logprobs": -1},
                 {"messages": MESSAGES, "top_logprobs": 2},
                 {"messages": MESSAGES, "logprobs": 3}):
        status, out = server.json("POST", "/v1/chat/completions", body)
        assert status == 400 and out["error"]["type"] == "invalid_request_error", (body, out)
        assert "logprobs" in out["error"]["message"], out
    for value in (-1, 21, 1.5, True):
        status, out = server.json("POST", "/v1/completions", {"prompt": "x", "logprobs": value})
        assert status == 400 and "logprobs" in out["error"]["message"], (value, out)



# Small schemas: this model's tokenizer spends about a token per character and its context is 512.
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"enum": ["Paris", "Oslo"]}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"tz": {"enum": ["UTC", "CET"]}}, "required": ["tz"]}}}
TOOL_MESSAGES = [{"role": "user", "content": "Weather?"}]
# A minimal Hermes-style template (Qwen 2.5's markers) that reads `tools`: Qwen's own is longer
# than this model's context (Tests/QuantaServerTests renders that one).
HERMES_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n<tools>{% for t in tools %}{{ t.function.name }} {% endfor %}</tools>"
    "<|im_end|>\n{% endif %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n"
    "{%- if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>\n"
    "{\"name\": \"{{ c.function.name }}\", \"arguments\": {{ c.function.arguments | tojson }}}\n</tool_call>"
    "{% endfor %}{% elif m.role == 'tool' %}<tool_response>\n{{ m.content }}\n</tool_response>"
    "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def check_call(call, tool):
    import jsonschema
    assert call.type == "function" and call.id.startswith("call_") and len(call.id) == 29, call
    assert call.function.name == tool["function"]["name"]
    jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])


@pytest.fixture(scope="module")
def tool_server(model_path):
    s = Server(model_path, "-np", "2", "-c", "1024")
    yield s
    s.stop()
    assert s.proc.returncode == 0, "".join(s.log)


def test_tool_choice_required(tool_server):
    """The grammar makes the reply a call (this random model would never choose one), parsed into
    message.tool_calls. The model has no template: chatml, which does not read tools, so the tools
    go in a system message and the reply is the generic format's JSON. (One small tool: two, with
    the instructions, nearly fill this model's 512-token context; the Jinja test below has two.)"""
    client = tool_server.client()
    for seed in (1, 2):
        r = client.chat.completions.create(model="tiny", messages=TOOL_MESSAGES, tools=[WEATHER],
                                           tool_choice="required", max_tokens=150, seed=seed, temperature=1.0)
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        assert choice.message.content is None and len(choice.message.tool_calls) == 1
        check_call(choice.message.tool_calls[0], WEATHER)


def stream_tool_call(client, **kw):
    calls, content, finish = {}, "", None
    for chunk in client.chat.completions.create(model="tiny", stream=True, **kw):
        for c in chunk.choices:
            content += c.delta.content or ""
            for d in c.delta.tool_calls or []:
                entry = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = d.id or entry["id"]
                entry["name"] += d.function.name or ""
                entry["arguments"] += d.function.arguments or ""
            finish = c.finish_reason or finish
    return calls, content, finish


def test_tool_call_streamed(tool_server):
    calls, content, finish = stream_tool_call(tool_server.client(), messages=TOOL_MESSAGES, tools=[WEATHER],
                                              seed=4, tool_choice="required", max_tokens=150)
    assert finish == "tool_calls" and content == "" and list(calls) == [0], (finish, content, calls)
    assert calls[0]["id"].startswith("call_") and calls[0]["name"] == "get_weather"
    import jsonschema
    jsonschema.validate(json.loads(calls[0]["arguments"]), WEATHER["function"]["parameters"])


def test_tool_conversation_renders(tool_server):
    """The assistant's call and the tool's result go back through a template that does not read
    tools (chatml here)."""
    client = tool_server.client()
    history = TOOL_MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}]
    plain = client.chat.completions.create(model="tiny", messages=TOOL_MESSAGES, max_tokens=4, temperature=0)
    r = client.chat.completions.create(model="tiny", messages=history, max_tokens=4, temperature=0)
    # The call (as the generic format's JSON) and its result (a user message) are in the prompt.
    assert r.usage.prompt_tokens > plain.usage.prompt_tokens + 80
    assert r.choices[0].finish_reason in ("stop", "length") and r.choices[0].message.tool_calls is None
    # tool_choice none: no tools in the prompt, the reply is text.
    r = client.chat.completions.create(model="tiny", messages=TOOL_MESSAGES, tools=[WEATHER], tool_choice="none",
                                       max_tokens=4, temperature=0)
    assert r.usage.prompt_tokens == plain.usage.prompt_tokens and r.choices[0].message.tool_calls is None


def test_tool_errors(tool_server):
    bad = [
        ({"tool_choice": "required"}, "tools"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "nope"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": [{"type": "retrieval", "function": {"name": "x"}}]}, "type"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "name"),
        ({"tools": [WEATHER, WEATHER]}, "twice"),
        ({"tools": [WEATHER], "logprobs": True, "stream": True}, "logprobs"),
        ({"tools": [WEATHER], "tool_choice": "required", "response_format": {"type": "json_object"}}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "string", "pattern": "a+"}}}], "tool_choice": "required"}, "pattern"),
        ({"messages": [{"role": "user", "content": "x", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}, "assistant"),
        ({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]}, "arguments"),
    ]
    for extra, word in bad:
        status, out = tool_server.json("POST", "/v1/chat/completions", {"messages": TOOL_MESSAGES, **extra})
        assert status == 400 and out["error"]["type"] == "invalid_request_error", (extra, out)
        assert word in out["error"]["message"], (extra, out)


@pytest.fixture(scope="module")
def hermes_server(model_path):
    """The tiny model with a template that reads `tools` and writes Hermes/Qwen-style calls."""
    d = tempfile.mkdtemp(prefix="quanta-serve-hermes-")
    template = os.path.join(d, "hermes.jinja")
    with open(template, "w") as f:
        f.write(HERMES_TEMPLATE)
    s = Server(model_path, "-np", "2", "-c", "1024", "--chat-template", template)
    yield s
    s.stop()
    assert s.proc.returncode == 0, "".join(s.log)


def test_tool_call_through_a_jinja_template(hermes_server):
    """The template reads tools: its format (<tool_call> blocks) is the grammar's and the parser's;
    the call and its result go back through the template on the next turn."""
    client = hermes_server.client()
    r = client.chat.completions.create(model="tiny", messages=TOOL_MESSAGES, tools=[WEATHER, CLOCK],
                                       tool_choice="required", max_tokens=150, seed=7, temperature=1.0)
    assert r.choices[0].finish_reason == "tool_calls", r.choices[0].message
    call = r.choices[0].message.tool_calls[0]
    check_call(call, WEATHER if call.function.name == "get_weather" else CLOCK)
    r = client.chat.completions.create(model="tiny", messages=TOOL_MESSAGES, tools=[WEATHER, CLOCK], seed=3,
                                       tool_choice={"type": "function", "function": {"name": "get_time"}},
                                       max_tokens=150, temperature=1.0)
    assert r.choices[0].finish_reason == "tool_calls"
    check_call(r.choices[0].message.tool_calls[0], CLOCK)
    calls, content, finish = stream_tool_call(client, messages=TOOL_MESSAGES, tools=[WEATHER], seed=8,
                                              tool_choice="required", max_tokens=150)
    assert finish == "tool_calls" and content == "" and calls[0]["name"] == "get_weather", (calls, content)
    history = TOOL_MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 C"}]
    again = client.chat.completions.create(model="tiny", messages=history, tools=[WEATHER], max_tokens=8,
                                           temperature=0)
    # auto: text, or a call of the offered tool.
    if again.choices[0].finish_reason == "tool_calls":
        check_call(again.choices[0].message.tool_calls[0], WEATHER)
    else:
        assert again.choices[0].finish_reason in ("stop", "length")
        assert isinstance(again.choices[0].message.content, str)
    # <tool_call>, the arguments and <tool_response> add at least their markers' length.
    assert again.usage.prompt_tokens > r.usage.prompt_tokens + 40
