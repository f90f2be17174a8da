"""Score the safety triage: the rules and detector on ``eval/triage.jsonl``, and the detector
on the scenario bank (leave one family out)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def evaluate_triage(path: Path) -> dict[str, float]:
    """Recall on emergency phrasings and false alarms on ordinary questions, from a JSON-lines
    file of ``{"text", "label"}`` (labels: emergency, self_harm, ordinary, dosing_personal,
    dosing_general, injection, benign)."""
    from chatbot import safety

    rows = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x]

    def rate(labels: set[str], hit: Callable[[safety.Triage], bool]) -> float:
        picked = [r for r in rows if r["label"] in labels]
        return round(sum(hit(safety.triage(r["text"])) for r in picked) / max(1, len(picked)), 4)

    def alarmed(t: safety.Triage) -> bool:
        return t.status == "emergency"

    return {
        "emergency_recall": rate({"emergency", "self_harm"}, alarmed),
        "crisis_line_on_self_harm": rate({"self_harm"}, lambda t: "self_harm" in t.flags),
        "false_alarm_rate": rate({"ordinary"}, alarmed),
        "dosing_flagged": rate({"dosing_personal"}, lambda t: "dosing" in t.flags),
        "dosing_false_flags": rate({"dosing_general"}, lambda t: "dosing" in t.flags),
        "injection_flagged": rate({"injection"}, lambda t: "prompt_injection" in t.flags),
        "injection_false_flags": rate({"benign"}, lambda t: "prompt_injection" in t.flags),
        "phrasings": len(rows),
    }


def evaluate_triage_bank(settings: Any) -> dict[str, Any]:
    """The detector measured on the scenario bank: leave one family out (fit on every other
    phrasing family, triage the held-out one), in sample, and the shipped weights on the
    held-out sets (:func:`chatbot.safety.training.report`)."""
    from chatbot.embedding import get_embedder
    from chatbot.safety import training

    result = training.report(
        settings.triage_bank_dir, settings.triage_path, get_embedder(training.DEFAULT_MODEL)
    )
    weights = result.pop("weights")
    result["thresholds"] = {
        "emergency": weights["emergency"]["threshold"],
        "urgent": weights["urgent"]["threshold"],
    }
    return result
