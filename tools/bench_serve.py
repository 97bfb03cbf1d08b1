"""Benchmark `augment serve` on the real default model over loopback: batched vs one request at a time.

    nice -n 15 .venv/bin/python tools/bench_serve.py                 # 8 clients x 100 requests (the target run)
    nice -n 15 .venv/bin/python tools/bench_serve.py --requests 20   # a shorter run (say so when reporting)

Three phases, each on a fresh server over the same loaded model, on 127.0.0.1 only (the clients run in a
child process, with their own GIL; the server and the model in this one):
1. batched: ``--clients`` threads each send ``--requests`` streamed chat requests one after the other;
2. serial: the same load on a server with batching off (one generation at a time);
3. stalled: the batched load again while a client holds streams open and never reads them.

It prints the CPU, dtype and a table, then ONE JSON object on its last line with ``batched_vs_serial``
(throughput ratio), ``errors``, ``p50_ms``/``p95_ms`` (batched), ``stalled_reader_p95_ratio`` (p95 with the
stalled reader / p95 without) and memory (RSS) before and after all the requests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from augment._cpu import cpu_model  # noqa: E402

HOST = "127.0.0.1"  # loopback only
FRUITS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "mango", "peach"]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def one_request(client: httpx.Client, url: str, model: str, i: int, max_tokens: int) -> float:
    """One streamed request read to the end; returns its latency in ms (raises on any error)."""
    body = {"model": model, "stream": True, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": f"Say something about a {FRUITS[i % len(FRUITS)]} ({i})."}]}
    t0 = time.perf_counter()
    with client.stream("POST", url + "/chat/completions", json=body) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.read()[:200]!r}")
        done = False
        for line in r.iter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: {") and '"error"' in line[:20]:
                raise RuntimeError(line[:200])
        if not done:
            raise RuntimeError("the stream ended without [DONE]")
    return (time.perf_counter() - t0) * 1000


def load(url: str, model: str, clients: int, requests: int, max_tokens: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client_loop(c: int) -> None:
        with httpx.Client(timeout=600) as client:
            for k in range(requests):
                try:
                    ms = one_request(client, url, model, c * requests + k, max_tokens)
                    with lock:
                        latencies.append(ms)
                except Exception as e:  # counted, reported
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}"[:200])

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan"))
    return {"requests": len(lat), "errors": len(errors), "error_samples": errors[:3], "wall_s": round(wall, 2),
            "req_per_s": round(len(lat) / wall, 3), "p50_ms": round(statistics.median(lat), 1) if lat else None,
            "p95_ms": round(pct(0.95), 1)}


class StalledReader:
    """Opens a streamed request every ``every`` seconds (up to ``most`` at once) and never reads a byte."""

    def __init__(self, port: int, model: str, max_tokens: int, every: float = 2.0, most: int = 4):
        self.port, self.model, self.max_tokens, self.every, self.most = port, model, max_tokens, every, most
        self.socks: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        body = json.dumps({"model": self.model, "stream": True, "max_tokens": self.max_tokens,
                           "messages": [{"role": "user", "content": "Write a long story about a plum."}]}).encode()
        while not self.stop.is_set():
            if len(self.socks) < self.most:
                s = socket.create_connection((HOST, self.port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                self.socks.append(s)
            self.stop.wait(self.every)

    def __enter__(self) -> "StalledReader":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def load_elsewhere(*args) -> dict:
    """:func:`load` in a child process: the clients' threads (HTTP, SSE parsing) do not share the server's GIL,
    as real clients would not."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(load, args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=100, help="requests per client in each phase (default 100)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--batch-window-ms", type=float, default=None,
                    help="the server's batch window (default: make_server's default)")
    ap.add_argument("--phases", default="batched,serial,stalled", help="which phases to run (comma-separated)")
    args = ap.parse_args()

    import torch

    from augment.llm.loader import load_llm
    from augment.serve import make_server

    if args.threads:
        torch.set_num_threads(args.threads)
    llm = load_llm()
    dtype = str(next(llm.model.parameters()).dtype).replace("torch.", "")
    print(f"cpu: {cpu_model()} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()}); "
          f"model {llm.model_name} {dtype}; {args.clients} clients x {args.requests} requests, "
          f"max_tokens {args.max_tokens}, streamed", flush=True)
    llm.complete("warm up", max_tokens=2)
    rss_before = rss_mb()
    results = {}
    window = {} if args.batch_window_ms is None else {"batch_window": args.batch_window_ms / 1000}
    phases = [p for p in (("batched", True, False), ("serial", False, False), ("stalled", True, True))
              if p[0] in args.phases.split(",")]
    for phase, batching, stalled in phases:
        with make_server(llm, host=HOST, port=0, batching=batching, **window) as server:
            if stalled:
                with StalledReader(server.server_address[1], server.model_name, args.max_tokens):
                    time.sleep(0.5)
                    res = load_elsewhere(server.url, server.model_name, args.clients, args.requests, args.max_tokens)
            else:
                res = load_elsewhere(server.url, server.model_name, args.clients, args.requests, args.max_tokens)
            res["rows_per_batch"] = round(server.engine.rows / max(1, server.engine.batches), 2)
        results[phase] = res
        print(f"{phase:8s} {res['requests']:5d} ok {res['errors']:3d} errors  {res['req_per_s']:7.3f} req/s  "
              f"p50 {res['p50_ms']} ms  p95 {res['p95_ms']} ms  rows/batch {res['rows_per_batch']}  "
              f"wall {res['wall_s']} s", flush=True)
        for e in res["error_samples"]:
            print("   error:", e)
    rss_after = rss_mb()
    if set(results) != {"batched", "serial", "stalled"}:  # a partial run: its rows only
        print(json.dumps({"phases": results, "cpu": cpu_model(), "dtype": dtype}))
        return
    b, s, st = results["batched"], results["serial"], results["stalled"]
    total = sum(r["requests"] + r["errors"] for r in results.values())
    summary = {
        "batched_vs_serial": round(b["req_per_s"] / s["req_per_s"], 2) if s["req_per_s"] else None,
        "errors": sum(r["errors"] for r in results.values()),
        "p50_ms": b["p50_ms"], "p95_ms": b["p95_ms"],
        "serial_p50_ms": s["p50_ms"], "serial_p95_ms": s["p95_ms"],
        "stalled_reader_p95_ms": st["p95_ms"],
        "stalled_reader_p95_ratio": round(st["p95_ms"] / b["p95_ms"], 3) if b["p95_ms"] else None,
        "batched_req_per_s": b["req_per_s"], "serial_req_per_s": s["req_per_s"],
        "rows_per_batch": b["rows_per_batch"], "requests_total": total,
        "rss_mb_before": round(rss_before, 1), "rss_mb_after": round(rss_after, 1),
        "clients": args.clients, "requests_per_client": args.requests, "max_tokens": args.max_tokens,
        "cpu": cpu_model(), "dtype": dtype,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
