"""Score what the articles do not answer and conversation: refusals of near-topic
unanswerable questions, wrong refusals of answerable ones, and conversational messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatbot.evaluation.metrics import _rows, _share


@dataclass
class UnderstandingReport:
    """Refusals of near-topic unanswerable questions, wrong refusals of answerable ones, and
    conversational messages, per category (``eval/unanswerable.jsonl``,
    ``eval/conversation.jsonl``, and the hold-out ``eval/coverage_holdout.jsonl``)."""

    unanswerable_refused: float = 0.0
    refused_by_category: dict[str, float] = field(default_factory=dict)
    refusals_naming_what_is_missing: float = 0.0
    conversation_handled: float = 0.0
    conversation_by_kind: dict[str, float] = field(default_factory=dict)
    holdout_unanswerable_refused: float = 0.0
    holdout_refused_by_category: dict[str, float] = field(default_factory=dict)
    holdout_wrongly_refused: float = 0.0
    holdout_conversation_handled: float = 0.0
    misses: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def conversation_handled(answer: Any, kind: str) -> bool:
    """A conversational message is handled by a reply without citations; "tell me more"
    after an answer by an answer that continues its topic (flag ``more``, cited)."""
    if kind == "more_with_history":
        return answer.status == "answered" and "more" in answer.flags and bool(answer.citations)
    return answer.status == "conversation" and not answer.citations


def _by(pairs: Sequence[tuple[str, bool]]) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for key, ok in pairs:
        groups.setdefault(key, []).append(ok)
    return {k: _share(v) for k, v in sorted(groups.items())}


def evaluate_understanding(
    ask: Callable[..., Any],
    unanswerable: Path,
    conversation: Path,
    holdout: Path,
    progress: Callable[[], None] | None = None,
) -> UnderstandingReport:
    """Ask every row of the three sets (``ask(text, history=...)``) and score the replies."""
    report = UnderstandingReport()
    refused: list[tuple[str, bool]] = []
    named: list[bool] = []
    for row in _rows(unanswerable):
        answer = ask(row["question"])
        ok = answer.status == "no_answer"
        refused.append((row["category"], ok))
        if ok:
            named.append(bool(answer.uncovered))
        else:
            report.misses.append(f"{row['id']} answered")
        if progress:
            progress()
    handled: list[tuple[str, bool]] = []
    for row in _rows(conversation):
        answer = ask(row["text"], history=row.get("history", []))
        ok = conversation_handled(answer, row["kind"])
        handled.append((row["kind"], ok))
        if not ok:
            report.misses.append(f"{row['id']} {answer.status}")
        if progress:
            progress()
    hold_refused: list[tuple[str, bool]] = []
    hold_wrong: list[bool] = []
    hold_talk: list[bool] = []
    for row in _rows(holdout):
        answer = ask(row["question"])
        if row["expect"] == "refuse":
            hold_refused.append((row["category"], answer.status == "no_answer"))
        elif row["expect"] == "answer":
            hold_wrong.append(answer.status == "no_answer")
        else:
            hold_talk.append(conversation_handled(answer, row["category"]))
        if progress:
            progress()
    report.unanswerable_refused = _share([ok for _, ok in refused])
    report.refused_by_category = _by(refused)
    report.refusals_naming_what_is_missing = _share(named)
    report.conversation_handled = _share([ok for _, ok in handled])
    report.conversation_by_kind = _by(handled)
    report.holdout_unanswerable_refused = _share([ok for _, ok in hold_refused])
    report.holdout_refused_by_category = _by(hold_refused)
    report.holdout_wrongly_refused = _share(hold_wrong)
    report.holdout_conversation_handled = _share(hold_talk)
    return report
