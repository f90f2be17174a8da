"""What the benchmark scripts share."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Sequence

# Library loggers every benchmark sets to ERROR; ``quiet_libraries`` takes more by name.
QUIET_LOGGERS = ("sentence_transformers", "transformers", "huggingface_hub", "faiss")


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


def quiet_libraries(*loggers: str, transformers: bool = False) -> None:
    """Silence warnings and the loggers of ``QUIET_LOGGERS`` and ``loggers``; with
    ``transformers``, also set transformers' verbosity to errors and turn off its progress
    bars (which imports transformers)."""
    warnings.filterwarnings("ignore")
    for name in (*QUIET_LOGGERS, *loggers):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not transformers:
        return
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:
        pass


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


class CpuMonitor:
    """How busy the machine was with other processes while the benchmark ran (Linux only).

    Timings on a shared machine swing widely when other processes compete for the cores
    (torch's worker threads then wait for each other), so the report says how much CPU the
    rest of the machine took. With ``count_children``, the CPU time of this process's waited-for
    child processes counts as this process's own.
    """

    def __init__(self, *, count_children: bool = False) -> None:
        self.count_children = count_children
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float] | None:
        """(busy, steal, total) CPU seconds of the machine, and this process's CPU seconds."""
        machine = machine_cpu_seconds()
        if machine is None:
            return None
        if self.count_children:
            own = os.times()
            ours = own.user + own.system + own.children_user + own.children_system
        else:
            ours = time.process_time()
        return (*machine, ours)

    def shares(self) -> dict[str, float] | None:
        """Fractions of the machine's CPU time, since the start, taken by other processes
        and stolen by the hypervisor."""
        end = self._sample()
        if self.start is None or end is None:
            return None
        busy, steal, total, ours = (e - s for e, s in zip(end, self.start, strict=True))
        if total <= 0:
            return None
        return {"other_processes": max(0.0, busy - ours) / total, "steal": steal / total}

    def other_share(self) -> float | None:
        """Fraction of the machine's CPU time, since the start, used by other processes."""
        shares = self.shares()
        return None if shares is None else shares["other_processes"]


def percentile(values: Sequence[float], q: int) -> float:
    """The ``q``-th percentile of ``values`` (inclusive method: linear interpolation between
    the closest ranks); the value itself when there is one, NaN when there are none."""
    import statistics

    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
