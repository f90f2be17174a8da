#!/usr/bin/env python
"""Per-message latency of triage: the rules alone, and the rules with the detector.

Usage::

    python benchmarks/bench_triage.py [--messages N] [--repeats N]

Triage runs before retrieval on every message, so its cost adds to every answer. The
messages are the scenario bank's (``eval/emergency/``: short, long and rambling ones), read
in the same order by every variant; each variant runs once untimed to warm up (the model
loads then). Prints p50, p95 and the mean in milliseconds, and the ratio of each variant to
the rules alone measured in the same run, since absolute times differ from machine to machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import machine_cpu_seconds, percentile  # noqa: E402
from chatbot.safety import load_detector, triage  # noqa: E402
from chatbot.safety.training import load_bank  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400, help="messages taken from the bank")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bank, _ = load_bank(REPO / "eval" / "emergency")
    step = max(1, len(bank) // args.messages)
    messages = [e.text for e in bank[::step]][: args.messages]
    words = [len(m.split()) for m in messages]
    print(f"{len(messages)} messages, {statistics.median(words):.0f} words median, "
          f"{max(words)} at most; {os.cpu_count()} CPUs")  # fmt: skip
    variants = {"rules only": load_detector("none"), "rules + detector": load_detector()}
    before = machine_cpu_seconds()
    results: dict[str, list[float]] = {}
    for name, detector in variants.items():
        for m in messages[:20]:
            triage(m, detector=detector)
        times = []
        for _ in range(args.repeats):
            for m in messages:
                start = time.perf_counter()
                triage(m, detector=detector)
                times.append((time.perf_counter() - start) * 1000)
        results[name] = times
    base = statistics.median(results["rules only"])
    print(f"{'variant':18s} {'p50 ms':>8s} {'p95 ms':>8s} {'mean ms':>8s} {'p50 / rules':>12s}")
    for name, times in results.items():
        p50 = statistics.median(times)
        print(f"{name:18s} {p50:8.2f} {percentile(times, 95):8.2f} "
              f"{statistics.fmean(times):8.2f} {p50 / base:12.1f}")  # fmt: skip
    after = machine_cpu_seconds()
    if before and after:
        busy, total = after[0] - before[0], after[2] - before[2]
        print(f"machine busy {busy / max(1e-9, total):.0%} of the run (all processes)")


if __name__ == "__main__":
    main()
