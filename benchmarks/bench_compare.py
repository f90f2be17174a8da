#!/usr/bin/env python
"""Latency of this checkout against an earlier commit, measured side by side in one run.

Usage::

    python benchmarks/bench_compare.py --base REV [--rounds N] [--repeats N]

Checks REV out into a temporary git worktree and runs ``benchmarks/bench_latency.py`` of each
tree in turn, alternating, ``--rounds`` times (each its own process, importing its own
``chatbot`` package with this checkout's virtual environment). Prints each run's figures and,
per stage, the median p50 of each tree and their ratio (this checkout over the base). Run it
on a quiet machine: both trees share whatever load there is.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(\w+)\s+p50\s+([\d.]+) ms\s+p95\s+([\d.]+) ms", re.MULTILINE)


def run_latency(tree: Path, repeats: int) -> dict[str, float]:
    """One run of ``tree``'s latency benchmark: p50 in ms per stage."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / "bench_latency.py"), "--repeats", str(repeats)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(out.strip(), flush=True)
    return {name: float(p50) for name, p50, _ in LINE.findall(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base), args.base],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
            for i in range(args.rounds):
                for name, tree in (("base", base), ("head", REPO)):
                    print(f"\n== round {i + 1}, {name} ({args.base if name == 'base' else 'HEAD'})")
                    runs[name].append(run_latency(tree, args.repeats))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False
            )
    print(f"\n| stage | base {args.base} p50 ms | HEAD p50 ms | ratio |\n|---|---|---|---|")
    for stage in runs["head"][0]:
        h = statistics.median(r[stage] for r in runs["head"])
        found = [r[stage] for r in runs["base"] if stage in r]
        if not found:  # a stage the base does not measure
            print(f"| {stage} | - | {h:.1f} | - |")
            continue
        b = statistics.median(found)
        print(f"| {stage} | {b:.1f} | {h:.1f} | {h / b:.2f} |")


if __name__ == "__main__":
    main()
