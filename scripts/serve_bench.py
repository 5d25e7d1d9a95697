#!/usr/bin/env python3
"""Concurrent load on an OpenAI-compatible server (quanta serve or llama-server), llama.cpp's
server bench in miniature: CLIENTS clients each send REQUESTS completions one after another
(`/v1/completions`, greedy, `ignore_eos`, fixed `max_tokens`) with distinct prompts, streamed.
Prints the aggregate generated tokens/s over the whole run, requests/s, and the median and p90
time to first token and per-stream decode rate.

    python3 scripts/serve_bench.py --url http://127.0.0.1:8080 --clients 8 --requests 4 --max-tokens 64

Needs httpx (installed with the `openai` package that scripts/setup.sh installs)."""
import argparse
import asyncio
import json
import statistics
import time

import httpx


async def one(client, url, prompt, max_tokens, stats):
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first = None
    tokens = 0
    async with client.stream("POST", url + "/v1/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("choices") and chunk["choices"][0].get("text") and first is None:
                first = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    end = time.perf_counter()
    first = first or end
    stats.append({"ttft": first - start, "tokens": tokens,
                  "rate": (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0})


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=4, help="requests per client, one after another")
    p.add_argument("--max-tokens", type=int, default=64)
    a = p.parse_args()
    stats = []
    async with httpx.AsyncClient(timeout=600) as client:
        async def worker(c):
            for r in range(a.requests):
                prompt = f"Client {c} request {r}: the story of the number {c * 1000 + r} begins"
                await one(client, a.url, prompt, a.max_tokens, stats)
        # One warm-up request (kernels, plans), not counted.
        await one(client, a.url, "warm up", 8, [])
        start = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in range(a.clients)))
        wall = time.perf_counter() - start
    total = sum(s["tokens"] for s in stats)
    ttft = sorted(s["ttft"] for s in stats)
    rate = sorted(s["rate"] for s in stats)
    q90 = lambda v: v[min(len(v) - 1, int(0.9 * len(v)))]
    print(f"clients {a.clients}  requests {len(stats)}  generated {total} tokens in {wall:.2f} s")
    print(f"aggregate {total / wall:.1f} t/s  {len(stats) / wall:.2f} req/s  "
          f"ttft median {statistics.median(ttft) * 1000:.0f} ms p90 {q90(ttft) * 1000:.0f} ms  "
          f"per-stream decode median {statistics.median(rate):.1f} t/s")


if __name__ == "__main__":
    asyncio.run(main())
