"""The yardstick: a raw aiohttp loop sending the pipeline's requests, in its own process.

Reads the same JSONL dataset and builds the same request bodies byte for byte as the pipeline
(system + templated user message, the model, max_tokens; compact JSON), for every sample and
model in the pipeline's interleaved order, and sends them with `concurrency` workers over one
aiohttp session, checking each answer is a 200 with choices. Nothing else: no journal, no
scoring, no tables. The scale bench measures this process whole, like the pipeline's.

    python bench/raw_loop.py --url http://127.0.0.1:PORT/v1/chat/completions \\
        --dataset bench/out/scale-2000.jsonl --models m1 m2 --system "..." --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterator

import aiohttp


def bodies(dataset: str, models: list[str], system: str, max_tokens: int) -> Iterator[bytes]:
    """Every request body, sample by sample, each sample's models in turn, read lazily (so
    the first request leaves at once, as a streaming client's would)."""
    with open(dataset, encoding="utf-8") as f:
        for line in f:
            question = json.loads(line)["question"]
            messages = [{"role": "system", "content": system},
                        {"role": "user", "content": question}]
            for m in models:
                body = {"model": m, "messages": messages, "max_tokens": max_tokens}
                yield json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def send_all(url: str, payloads: Iterator[bytes], concurrency: int, key: str) -> int:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    it = payloads
    done = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            for body in it:
                async with session.post(url, data=body, headers=headers) as r:
                    data = await r.json()
                    if r.status != 200 or not data.get("choices"):
                        raise RuntimeError(f"raw loop: HTTP {r.status}: {str(data)[:200]}")
                    done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="the chat completions URL")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--system", required=True)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--key-env", default="PIPELINE_BENCH_KEY")
    args = ap.parse_args(argv)
    with open(args.dataset, encoding="utf-8") as f:
        expected = sum(1 for _ in f) * len(args.models)
    payloads = bodies(args.dataset, args.models, args.system, args.max_tokens)
    done = asyncio.run(send_all(args.url, payloads, args.concurrency,
                                os.environ.get(args.key_env, "bench")))
    if done != expected:
        print(f"raw loop: {done} of {expected} answered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
