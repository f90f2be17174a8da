#!/usr/bin/env python
"""Load on the HTTP API: concurrent clients posting questions to ``POST /ask``.

Usage::

    python benchmarks/bench_load.py [--clients 20] [--duration 30] [--index DIR] [--json PATH]

Builds an index of a copy of corpus/ in a temporary folder (unless --index is given), starts
``chatbot serve`` on 127.0.0.1 (a free port) in a child process, warms it up, then runs
``--clients`` clients for ``--duration`` seconds, each posting the gold set's questions in
turn (each client starting at a different one) and waiting for every answer before sending
the next. Prints requests/s, latency percentiles and errors; exits 1 when any request failed
(a transport error, a timeout or any status but 200), 2 when the server could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import machine_cpu_seconds, percentile, quiet_model_libraries  # noqa: E402

quiet_model_libraries()

import httpx  # noqa: E402

QUESTIONS = REPO / "eval" / "questions.jsonl"
READY = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


@dataclass
class Result:
    """Every request of the timed window: latencies, outcomes, what the answers said."""

    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # latency_ms in the answers
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)


class Server:
    """``chatbot serve`` in a child process on a free port of 127.0.0.1; its log in a file."""

    def __init__(self, index_dir: Path, corpus_dir: Path, log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("w", encoding="utf-8")
        env = {**os.environ}
        env.pop("CHATBOT_ADMIN_TOKEN", None)
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "chatbot.cli", "serve", "--host", "127.0.0.1"),
                *("--port", "0", "--index", str(index_dir), "--corpus", str(corpus_dir)),
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float) -> str:
        """The base URL once the server listens and /healthz answers 200."""
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            match = READY.search(self.log_path.read_text(encoding="utf-8", errors="replace"))
            if match:
                url = match.group(1)
            elif self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            elif time.monotonic() > deadline:
                raise TimeoutError(f"the server did not start in {timeout:.0f} s")
            else:
                time.sleep(0.1)
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=10).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url}/healthz did not answer 200 in {timeout:.0f} s")

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the server has used (Linux only)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log.close()


async def client(
    http: httpx.AsyncClient,
    questions: list[str],
    start: int,
    deadline: float,
    result: Result,
) -> None:
    """Post questions one after another until the deadline (a request started before it
    is waited for and counted)."""
    loop = asyncio.get_running_loop()
    i = start
    while loop.time() < deadline:
        question = questions[i % len(questions)]
        i += 1
        began = time.perf_counter()
        try:
            response = await http.post("/ask", json={"question": question})
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                result.errors[f"HTTP {response.status_code}"] += 1
            else:
                answer = response.json()
                result.statuses[answer["status"]] += 1
                result.server_ms.append(float(answer["latency_ms"]))
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            elapsed = (time.perf_counter() - began) * 1000
            result.errors[type(exc).__name__] += 1
        result.latencies_ms.append(elapsed)


async def run_load(
    url: str, questions: list[str], clients: int, duration: float, timeout: float
) -> tuple[Result, float]:
    """Run the clients; the result and the wall-clock seconds until the last one finished."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:
        for question in questions[:3]:  # warm-up, untimed
            (await http.post("/ask", json={"question": question})).raise_for_status()
        result = Result()
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + duration
        step = max(1, len(questions) // clients)
        tasks = [client(http, questions, n * step, deadline, result) for n in range(clients)]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=duration + timeout + 30)
        return result, loop.time() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (30)")
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    parser.add_argument("--index", type=Path, help="an existing index (default: build one)")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="server start, s")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients and --duration must be positive")
    questions = [
        json.loads(line)["question"]
        for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(REPO / "corpus", corpus)
        index_dir = args.index
        if index_dir is None:
            index_dir = Path(tmp) / "index"
            print("building the index...", file=sys.stderr, flush=True)
            subprocess.run(
                [
                    *(sys.executable, "-m", "chatbot.cli", "index"),
                    *("--corpus", str(corpus), "--index", str(index_dir)),
                ],
                cwd=REPO,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        server = Server(index_dir, corpus, Path(tmp) / "server.log")
        try:
            url = server.wait_ready(args.start_timeout)
            health = httpx.get(f"{url}/healthz", timeout=30).json()
            print(f"server ready at {url}; {args.clients} clients...", file=sys.stderr, flush=True)
            load_before = os.getloadavg()[0]
            machine = machine_cpu_seconds()
            server_cpu = server.cpu_seconds()
            ours = time.process_time()
            result, wall = asyncio.run(
                run_load(url, questions, args.clients, args.duration, args.timeout)
            )
            ours = time.process_time() - ours
            server_cpu_end = server.cpu_seconds()
            machine_end = machine_cpu_seconds()
        except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
            print(f"bench_load: the server could not be used: {exc}", file=sys.stderr)
            print(server.log_path.read_text(encoding="utf-8", errors="replace")[-4000:])
            return 2
        finally:
            server.stop()
    used = None
    if None not in (machine, machine_end, server_cpu, server_cpu_end):
        assert machine and machine_end and server_cpu is not None and server_cpu_end is not None
        busy, _, total = (e - s for e, s in zip(machine_end, machine, strict=True))
        served = server_cpu_end - server_cpu
        used = {
            "server_cpu_s": served,
            "server_share": served / total if total else 0.0,
            "clients_share": ours / total if total else 0.0,
            "other_share": max(0.0, busy - served - ours) / total if total else 0.0,
        }
    lat = result.latencies_ms
    figures = {
        "clients": args.clients,
        "duration_s": args.duration,
        "wall_s": wall,
        "requests": result.requests,
        "errors": sum(result.errors.values()),
        "error_kinds": dict(result.errors),
        "statuses": dict(result.statuses),
        "requests_per_s": result.requests / wall if wall else 0.0,
        "latency_ms": {
            "p50": percentile(lat, 50),
            "p95": percentile(lat, 95),
            "p99": percentile(lat, 99),
            "max": max(lat, default=float("nan")),
            "mean": statistics.fmean(lat) if lat else float("nan"),
        },
        "server_latency_ms": {
            "p50": percentile(result.server_ms, 50),
            "p99": percentile(result.server_ms, 99),
        },
        "cpu": used,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
        },
        "index": health,
        "questions": len(questions),
    }
    print(
        f"# POST /ask under load: {args.clients} clients for {args.duration:g} s\n\n"
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load_before:.2f} before; server: `chatbot serve` on 127.0.0.1, index "
        f"{health['articles']} articles / {health['chunks']} chunks, {health['embedding_model']}"
        f"\nquestions: the {len(questions)} gold questions in turn, each client from another one"
        "\n"
    )
    print(f"requests:    {result.requests} in {wall:.1f} s ({dict(result.statuses)})")
    print(f"throughput:  {figures['requests_per_s']:.2f} requests/s")
    print(
        "latency:     p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {max:.0f} ms, "
        "mean {mean:.0f} ms".format(**figures["latency_ms"])
    )
    print(
        "in the app:  p50 {p50:.0f} ms, p99 {p99:.0f} ms (latency_ms of the answers: time "
        "in Chatbot.ask, sharing the CPU with the other requests)".format(
            **figures["server_latency_ms"]
        )
    )
    print(f"errors:      {figures['errors']} {dict(result.errors) or ''}".rstrip())
    if used is not None:
        print(
            f"CPU:         server {used['server_share']:.0%} of the machine, clients "
            f"{used['clients_share']:.0%}, other processes {used['other_share']:.0%}"
        )
        if used["other_share"] > 0.10:
            print("warning: other processes took over 10% of the CPU; the figures are inflated")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
