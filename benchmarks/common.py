"""What the benchmark scripts share."""

from __future__ import annotations

import os


def quiet_model_libraries() -> None:
    """Keep the Hugging Face stack offline and quiet; call before any of it is imported."""
    for key, value in {
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }.items():
        os.environ.setdefault(key, value)


def machine_cpu_seconds() -> tuple[float, float, float] | None:
    """(busy, stolen, total) CPU seconds of the whole machine since boot, from /proc/stat
    (Linux only; ``None`` elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            ticks = [int(x) for x in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    ticks += [0] * (8 - len(ticks))
    user, nice, system, idle, iowait, irq, softirq, steal = ticks
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq
    return busy / tick, steal / tick, (busy + idle + iowait + steal) / tick


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile of ``values`` (inclusive method); the value itself when there
    is one, NaN when there are none."""
    import statistics

    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
