"""Score the chatbot's answers to the gold questions: gold citations, key facts, refusals."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chatbot.evaluation.metrics import GoldQuestion, _percentile, is_relevant


@dataclass
class AnswerReport:
    """How the answers of :class:`chatbot.answering.Chatbot` fare on the gold set."""

    gold_cited: float = 0.0
    key_fact_in_answer: float = 0.0
    # The first sentence alone (holding a lead phrase, or for a question without lead
    # phrases a gold article's key phrase): does the answer open with what was asked?
    key_fact_in_lead: float = 0.0
    refusal_precision: float = 0.0
    refusal_recall: float = 0.0
    wrongly_refused: float = 0.0
    verbatim: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_answers(
    ask: Callable[[str], Any],
    questions: Sequence[GoldQuestion],
    article_texts: dict[str, str],
    progress: Callable[[], None] | None = None,
) -> AnswerReport:
    """Ask every gold question and score the answers.

    An in-scope answer cites its gold article when any citation is from a gold article, and
    holds the key fact when its text contains a key phrase; a refusal is status
    ``no_answer``; an answer is verbatim when every citation's quote is the article's text
    at its offsets.
    """
    ask(questions[0].question)  # warm-up
    cited = fact = lead = verbatim = answered = 0
    refused_out = refused_in = 0
    seconds: list[float] = []
    failures = []
    in_scope = [q for q in questions if q.in_scope]
    for q in questions:
        start = time.perf_counter()
        answer = ask(q.question)
        seconds.append(time.perf_counter() - start)
        if progress:
            progress()
        refused = answer.status == "no_answer"
        if not q.in_scope:
            refused_out += refused
            continue
        refused_in += refused
        if refused:
            failures.append(f"{q.id} refused")
            continue
        answered += 1
        ok_gold = any(c.article_id in q.gold for c in answer.citations)
        ok_fact = any(p in answer.answer for p in q.key_phrases)
        cited += ok_gold
        fact += ok_fact
        first = answer.citations[0] if answer.citations else None
        if first is not None and q.lead_phrases:
            lead += any(p in first.quote for p in q.lead_phrases)
        else:
            lead += first is not None and is_relevant(q, first.article_id, first.quote)
        verbatim += all(
            article_texts[c.article_id][c.start : c.end] == c.quote for c in answer.citations
        )
        if not (ok_gold and ok_fact):
            failures.append(f"{q.id} {'no gold citation' if not ok_gold else 'no key fact'}")
    n_in, n_out = max(1, len(in_scope)), max(1, len(questions) - len(in_scope))
    refusals = refused_in + refused_out
    return AnswerReport(
        gold_cited=round(cited / n_in, 4),
        key_fact_in_answer=round(fact / n_in, 4),
        key_fact_in_lead=round(lead / n_in, 4),
        refusal_precision=round(refused_out / refusals, 4) if refusals else 1.0,
        refusal_recall=round(refused_out / n_out, 4),
        wrongly_refused=round(refused_in / n_in, 4),
        verbatim=round(verbatim / max(1, answered), 4),
        latency_p50_ms=round(_percentile(seconds, 50) * 1000, 1),
        latency_p95_ms=round(_percentile(seconds, 95) * 1000, 1),
        failures=failures,
    )
