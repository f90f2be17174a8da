#!/usr/bin/env python
"""Load on the HTTP API: concurrent clients posting questions to ``POST /ask``.

Usage::

    python benchmarks/bench_load.py [--clients 20] [--duration 30] [--mix repeated|distinct|both]
                                    [--base REV] [--json PATH]

Builds an index of a copy of corpus/ in a temporary folder, starts ``chatbot serve`` on
127.0.0.1 (a free port) in a child process, warms it up, then runs ``--clients`` clients for
``--duration`` seconds per mix, each waiting for every answer before sending the next:

- ``repeated``: every client asks the same five gold questions in turn (what the answer
  cache serves);
- ``distinct``: no question is asked twice in the run: the questions of every eval set,
  each once, in a fixed shuffled order shared by the clients (then numbered variants).

A 429 is counted apart from the errors, and its client waits ``Retry-After`` (at most the
time left) before asking again, as a well-behaved client does. With ``--base REV`` the same
load runs against a server of commit REV (a temporary git worktree, its own index) after
this checkout's, and a table compares the two; run it on a quiet machine. Prints
requests/s, latency percentiles, 429s and errors; exits 1 when any request failed (a
transport error, a timeout or any status but 200 or 429), 2 when a server could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import machine_cpu_seconds, percentile, quiet_model_libraries  # noqa: E402

quiet_model_libraries()

import httpx  # noqa: E402

QUESTIONS = REPO / "eval" / "questions.jsonl"
# Every set whose lines hold a "question" or "message": the pool of distinct questions.
EVAL_SETS = (
    "questions.jsonl",
    "patient_questions.jsonl",
    "unanswerable.jsonl",
    "coverage_holdout.jsonl",
    "conversation.jsonl",
)
REPEATED = 5
MIXES = ("repeated", "distinct")
READY = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


@dataclass
class Result:
    """Every request of the timed window: latencies, outcomes, what the answers said."""

    latencies_ms: list[float] = field(default_factory=list)  # of the 200s
    server_ms: list[float] = field(default_factory=list)  # latency_ms in the answers
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    busy: int = 0  # 429s
    busy_ms: list[float] = field(default_factory=list)  # how fast the 429s came

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values()) + self.busy


class Server:
    """``chatbot serve`` of ``tree`` in a child process on a free port of 127.0.0.1; its log
    in a file."""

    def __init__(self, tree: Path, index_dir: Path, corpus_dir: Path, log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("w", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(tree)}
        env.pop("CHATBOT_ADMIN_TOKEN", None)
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "chatbot.cli", "serve", "--host", "127.0.0.1"),
                *("--port", "0", "--index", str(index_dir), "--corpus", str(corpus_dir)),
            ],
            cwd=tree,
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


def distinct_questions() -> list[str]:
    """Every question of the eval sets once, in a fixed shuffled order."""
    seen: dict[str, None] = {}
    for name in EVAL_SETS:
        for line in (REPO / "eval" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                text = row.get("question") or row.get("message")
                if isinstance(text, str) and text.strip():
                    seen.setdefault(text.strip(), None)
    questions = list(seen)
    random.Random(7).shuffle(questions)
    return questions


def repeated_questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    return [r["question"] for r in rows[:REPEATED]]


def question_stream(mix: str, clients: int) -> Iterator[tuple[int, str]]:
    """``(client, question)`` in the order they are asked: for ``distinct`` one shared
    stream that never repeats (numbered variants after the pool), for ``repeated`` each
    client's own cycle."""
    if mix == "distinct":
        pool = distinct_questions()
        for n in itertools.count():
            for question in pool:
                yield -1, question if n == 0 else f"{question} ({n + 1})"
    questions = repeated_questions()
    for i in itertools.count():
        for c in range(clients):
            yield c, questions[(c + i) % len(questions)]


async def client(
    http: httpx.AsyncClient,
    ask: Iterator[str],
    deadline: float,
    result: Result,
) -> None:
    """Post questions one after another until the deadline (a request started before it
    is waited for and counted); after a 429, wait Retry-After first."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        question = next(ask)
        began = time.perf_counter()
        try:
            response = await http.post("/ask", json={"question": question})
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code == 429:
                result.busy += 1
                result.busy_ms.append(elapsed)
                wait = float(response.headers.get("retry-after", "1"))
                await asyncio.sleep(max(0.0, min(wait, deadline - loop.time())))
                continue
            if response.status_code != 200:
                result.errors[f"HTTP {response.status_code}"] += 1
                continue
            answer = response.json()
            result.statuses[answer["status"]] += 1
            result.server_ms.append(float(answer["latency_ms"]))
            result.latencies_ms.append(elapsed)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            result.errors[type(exc).__name__] += 1


async def run_load(
    url: str, mix: str, clients: int, duration: float, timeout: float
) -> tuple[Result, float]:
    """Run the clients; the result and the wall-clock seconds until the last one finished."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:
        warm = repeated_questions() if mix == "repeated" else ["warm-up: what is IVIG?"]
        for question in warm:  # warm-up, untimed (for "repeated": the answers are now kept)
            (await http.post("/ask", json={"question": question})).raise_for_status()
        result = Result()
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + duration
        stream = question_stream(mix, clients)
        if mix == "distinct":
            shared = (q for _, q in stream)
            asks = [shared] * clients
        else:
            per_client: list[list[str]] = [[] for _ in range(clients)]
            for c, q in itertools.islice(stream, clients * REPEATED):
                per_client[c].append(q)
            asks = [itertools.cycle(qs) for qs in per_client]
        tasks = [client(http, asks[n], deadline, result) for n in range(clients)]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=duration + timeout + 30)
        return result, loop.time() - began


def build_index(tree: Path, corpus: Path, index_dir: Path) -> None:
    subprocess.run(
        [
            *(sys.executable, "-m", "chatbot.cli", "index"),
            *("--corpus", str(corpus), "--index", str(index_dir)),
        ],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def figures_of(result: Result, wall: float) -> dict[str, object]:
    lat = result.latencies_ms
    return {
        "wall_s": wall,
        "requests": result.requests,
        "answered": len(lat),
        "busy_429": result.busy,
        "busy_429_p50_ms": percentile(result.busy_ms, 50),
        "errors": sum(result.errors.values()),
        "error_kinds": dict(result.errors),
        "statuses": dict(result.statuses),
        "answers_per_s": len(lat) / wall if wall else 0.0,
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
    }


def measure(
    tree: Path, name: str, tmp: Path, args: argparse.Namespace
) -> dict[str, dict[str, object]] | None:
    """Every mix against a server of ``tree``: figures per mix (``None``: no server)."""
    corpus = tmp / f"{name}-corpus"
    shutil.copytree(REPO / "corpus", corpus)
    index_dir = tmp / f"{name}-index"
    print(f"{name}: building the index...", file=sys.stderr, flush=True)
    build_index(tree, corpus, index_dir)
    out: dict[str, dict[str, object]] = {}
    for mix in args.mixes:
        # A fresh server per mix: the distinct mix finds no answer kept by the other.
        server = Server(tree, index_dir, corpus, tmp / f"{name}-{mix}-server.log")
        try:
            url = server.wait_ready(args.start_timeout)
            health = httpx.get(f"{url}/healthz", timeout=30).json()
            print(f"{name} {mix}: {args.clients} clients...", file=sys.stderr, flush=True)
            machine = machine_cpu_seconds()
            server_cpu = server.cpu_seconds()
            result, wall = asyncio.run(
                run_load(url, mix, args.clients, args.duration, args.timeout)
            )
            server_cpu_end = server.cpu_seconds()
            machine_end = machine_cpu_seconds()
        except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
            print(f"bench_load: the {name} server could not be used: {exc}", file=sys.stderr)
            print(server.log_path.read_text(encoding="utf-8", errors="replace")[-4000:])
            return None
        finally:
            server.stop()
        figures = figures_of(result, wall)
        figures["index"] = health
        if None not in (machine, machine_end, server_cpu, server_cpu_end):
            assert machine and machine_end and server_cpu is not None
            assert server_cpu_end is not None
            busy, _, total = (e - s for e, s in zip(machine_end, machine, strict=True))
            served = server_cpu_end - server_cpu
            figures["cpu"] = {
                "server_share": served / total if total else 0.0,
                "other_share": max(0.0, busy - served) / total if total else 0.0,
            }
        out[mix] = figures
    return out


def report(name: str, mix: str, f: dict[str, object]) -> None:
    lat = f["latency_ms"]
    srv = f["server_latency_ms"]
    assert isinstance(lat, dict) and isinstance(srv, dict)
    print(f"## {name}, {mix} questions\n")
    print(
        f"requests:    {f['requests']} in {f['wall_s']:.1f} s: {f['answered']} answered "
        f"{f['statuses']}, {f['busy_429']} refused busy (429), {f['errors']} errors "
        f"{f['error_kinds'] or ''}".rstrip()
    )
    print(f"throughput:  {f['answers_per_s']:.2f} answers/s")
    print(
        "latency:     p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max:.0f} ms "
        "(the answered requests, as the client saw them)".format(**lat)
    )
    print(
        "in the app:  p50 {p50:.1f} ms, p99 {p99:.1f} ms (latency_ms of the answers)".format(**srv)
    )
    if f["busy_429"]:
        print(f"429s:        p50 {f['busy_429_p50_ms']:.1f} ms to answer")
    cpu = f.get("cpu")
    if isinstance(cpu, dict):
        print(
            f"CPU:         server {cpu['server_share']:.0%} of the machine, everything else "
            f"{cpu['other_share']:.0%} (the clients among it)"
        )
    print()


COMPARED = (
    ("answers/s", ("answers_per_s",)),
    ("client p50 ms", ("latency_ms", "p50")),
    ("client p99 ms", ("latency_ms", "p99")),
    ("in-app p50 ms", ("server_latency_ms", "p50")),
    ("429s", ("busy_429",)),
    ("errors", ("errors",)),
)


def figure(figures: dict[str, object], path: tuple[str, ...]) -> float:
    """One number of a run's figures, by its keys (``("latency_ms", "p50")``)."""
    value: object = figures
    for key in path:
        assert isinstance(value, dict)
        value = value[key]
    assert isinstance(value, int | float)
    return float(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per mix (30)")
    parser.add_argument("--mix", choices=[*MIXES, "both"], default="both")
    parser.add_argument("--base", help="also load a server of this commit, after this one")
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="server start, s")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients and --duration must be positive")
    args.mixes = MIXES if args.mix == "both" else (args.mix,)
    load_before = os.getloadavg()[0]
    runs: dict[str, dict[str, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        trees = [("HEAD", REPO)]
        if args.base:
            base = tmp / "base-tree"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(base), args.base],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            trees.append((args.base, base))
        try:
            for name, tree in trees:
                measured = measure(tree, name if tree == REPO else "base", tmp, args)
                if measured is None:
                    return 2
                runs[name] = measured
        finally:
            if args.base:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tmp / "base-tree")],
                    cwd=REPO,
                    check=False,
                )
    print(
        f"# POST /ask under load: {args.clients} clients, {args.duration:g} s per mix\n\n"
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load_before:.2f} before; `chatbot serve` on 127.0.0.1 with its default settings; "
        f"repeated: {REPEATED} gold questions; distinct: {len(distinct_questions())} "
        "questions of the eval sets, none asked twice\n"
    )
    for name, mixes in runs.items():
        for mix, figures in mixes.items():
            report(name, mix, figures)
    if args.base:
        print(f"| mix | figure | {args.base} | HEAD | HEAD / {args.base} |\n|---|---|---|---|---|")
        for mix in args.mixes:
            for label, path in COMPARED:
                bv, hv = figure(runs[args.base][mix], path), figure(runs["HEAD"][mix], path)
                ratio = f"{hv / bv:.2f}" if bv else "-"
                print(f"| {mix} | {label} | {bv:.1f} | {hv:.1f} | {ratio} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"clients": args.clients, "duration_s": args.duration, "runs": runs}
        args.json.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    failed = any(f["errors"] for mixes in runs.values() for f in mixes.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
