"""Score retrieval on the patient questions (lay, misspelled, follow-up, other languages,
noisy), per kind, for the chatbot and the textbook baseline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatbot.evaluation.metrics import (
    GoldQuestion,
    Retrieved,
    _ranking_figures,
    _rows,
    _share,
    first_relevant,
)


@dataclass
class PatientReport:
    """Retrieval on the patient questions (lay, misspelled, follow-up, other languages,
    noisy), per kind, for the chatbot and the textbook baseline.

    The chatbot ranks what it reads for the message (:meth:`Chatbot.rank`: noise removed,
    spelling corrected, follow-ups resolved, other languages glossed); the baseline ranks
    the raw message, with the previous user question before it for a follow-up (the
    textbook's condensing step without an LLM). ``languages`` has the share of
    other-language questions detected as such and of English ones taken for another
    language.
    """

    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)
    baseline_overall: dict[str, float] = field(default_factory=dict)
    languages: dict[str, float] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    # Overall figures with each `lay_expansion` setting, to choose it by.
    expansion: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def load_patient_questions(path: Path) -> list[dict[str, Any]]:
    """Read ``eval/patient_questions.jsonl`` (gold-set rows with ``history``)."""
    return _rows(path)


def _gold_of(row: dict[str, Any]) -> GoldQuestion:
    return GoldQuestion(
        id=row["id"],
        question=row["question"],
        gold=tuple(row["gold"]),
        key_phrases=tuple(row["key_phrases"]),
        kind=row["kind"],
        in_scope=True,
    )


def evaluate_patient(
    rank: Callable[[str, Sequence[dict[str, str]]], Sequence[tuple[str, str]]],
    rows: Sequence[dict[str, Any]],
    baseline: Callable[[str], Retrieved] | None = None,
    detect: Callable[[str], str] | None = None,
    progress: Callable[[], None] | None = None,
) -> PatientReport:
    """Rank every patient question with ``rank`` (and ``baseline``) and score it by kind."""
    ours: dict[str, list[int | None]] = {}
    theirs: dict[str, list[int | None]] = {}
    report = PatientReport()
    detected: list[bool] = []
    flagged: list[bool] = []
    for row in rows:
        q = _gold_of(row)
        history = list(row.get("history") or ())
        first = first_relevant(q, rank(row["question"], history))
        ours.setdefault(q.kind, []).append(first)
        if first is None or first > 0:
            report.misses.append(f"{q.id} {'-' if first is None else first + 1}")
        if baseline is not None:
            earlier = [t["content"] for t in history if t.get("role") == "user"]
            text = " ".join([*earlier[-1:], row["question"]])
            theirs.setdefault(q.kind, []).append(first_relevant(q, baseline(text).passages))
        if detect is not None:
            foreign = detect(row["question"]) != "en"
            (detected if row.get("lang") else flagged).append(foreign)
        if progress:
            progress()

    def figures(firsts: Sequence[int | None]) -> dict[str, float]:
        return {**_ranking_figures(firsts), "n": float(len(firsts))}

    report.by_kind = {k: figures(v) for k, v in sorted(ours.items())}
    report.overall = figures([f for v in ours.values() for f in v])
    if theirs:
        report.baseline_by_kind = {k: figures(v) for k, v in sorted(theirs.items())}
        report.baseline_overall = figures([f for v in theirs.values() for f in v])
    if detect is not None:
        report.languages = {
            "other languages detected": _share(detected),
            "English taken for another language": _share(flagged),
        }
    return report
