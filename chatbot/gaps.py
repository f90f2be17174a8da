"""What to write next: the questions the articles could not answer, grouped by meaning,
and the answers people rated down.

A question counts as a gap when its answer was refused as not covered (status
``no_answer`` with the flag ``not_covered`` or ``low_evidence``). The logged standalone
queries are embedded with the configured embedder and grouped greedily, deterministically:
distinct queries are taken most asked first (then latest, then alphabetically), and each
joins the group whose centroid is nearest when its cosine is at least ``threshold``
(``CHATBOT_GAPS_THRESHOLD``), else starts a new group. Groups are listed biggest first, each
with its count, an example question and when it was last asked.

The same report is printed by ``chatbot gaps``, served by ``GET /gaps`` and drawn on the
library page, and exported as CSV (:func:`to_csv`) with formula-looking cells neutralised.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

import numpy as np

from chatbot.questionlog import LoggedQuestion, QuestionLog, iso

REFUSAL_FLAGS = frozenset({"not_covered", "low_evidence"})
# The most distinct queries embedded for one report (the most asked ones).
MAX_QUERIES = 2000
# How many distinct queries a group lists besides its example.
MAX_LISTED = 10
CSV_COLUMNS = ("kind", "count", "question", "status", "comment", "when", "queries")
# A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Gap:
    """Refused questions that ask the same thing: how often, an example, when last.

    ``queries`` lists the group's distinct standalone queries, most asked first (at most
    ten); ``evidence`` is the best evidence strength any of them found.
    """

    count: int
    example: str
    last_asked: str
    queries: tuple[str, ...] = ()
    evidence: float | None = None


@dataclass(frozen=True)
class RatedDown:
    """An answer rated down, with the comment left on it."""

    answer_id: str
    question: str
    status: str
    comment: str
    rated_at: str


@dataclass(frozen=True)
class GapsReport:
    """The gaps and the answers rated down, of the questions asked since ``since`` (empty:
    all that the log keeps). ``refused`` counts the refused questions grouped into
    ``gaps``."""

    since: str
    threshold: float
    refused: int
    gaps: tuple[Gap, ...] = ()
    rated_down: tuple[RatedDown, ...] = ()

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["gaps"] = [{**asdict(g), "queries": list(g.queries)} for g in self.gaps]
        data["rated_down"] = [asdict(r) for r in self.rated_down]
        return data


def is_refused(row: LoggedQuestion) -> bool:
    """Whether the answer was a refusal for want of coverage."""
    return row.status == "no_answer" and not REFUSAL_FLAGS.isdisjoint(row.flags)


@dataclass
class _Query:
    """One distinct query of the refused questions (the same words, whatever their case and
    spacing), as last asked."""

    text: str
    count: int = 0
    last_asked: str = ""
    question: str = ""  # the latest wording asked
    evidence: float | None = None


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _distinct(rows: Sequence[LoggedQuestion]) -> list[_Query]:
    """The distinct queries of ``rows`` (oldest first), most asked first."""
    found: dict[str, _Query] = {}
    for row in rows:
        text = row.query.strip() or row.question.strip()
        if not text:
            continue
        query = found.setdefault(_key(text), _Query(text))
        query.count += 1
        if row.asked_at >= query.last_asked:  # the latest wording stands for them all
            query.text, query.last_asked, query.question = text, row.asked_at, row.question or text
        if row.evidence is not None:
            query.evidence = max(row.evidence, query.evidence or 0.0)
    return _ranked(list(found.values()), lambda q: (q.count, q.last_asked, q.text))


T = TypeVar("T")


def _ranked(items: list[T], key: Callable[[T], tuple[int, str, str]]) -> list[T]:
    """Most first, then the latest, then alphabetically: a deterministic order (stable
    sorts, least significant key first)."""
    items = sorted(items, key=lambda item: key(item)[2])
    items.sort(key=lambda item: key(item)[1], reverse=True)
    items.sort(key=lambda item: key(item)[0], reverse=True)
    return items


def cluster(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Group the rows of ``vectors`` (L2-normalised), taken in order: each joins the group
    whose centroid is nearest when the cosine is at least ``threshold``, else starts one.

    Example:
        >>> cluster(np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0]]), 0.9)
        [[0, 1], [2]]
    """
    groups: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i, vector in enumerate(np.asarray(vectors, dtype=np.float64)):
        best, best_cos = -1, threshold
        for g, total in enumerate(sums):
            norm = float(np.linalg.norm(total))
            cos = float(vector @ total) / norm if norm else 0.0
            if cos >= best_cos and (best < 0 or cos > best_cos):
                best, best_cos = g, cos
        if best < 0:
            groups.append([i])
            sums.append(vector.copy())
        else:
            groups[best].append(i)
            sums[best] += vector
    return groups


def group_gaps(rows: Sequence[LoggedQuestion], embed: Embed, threshold: float) -> list[Gap]:
    """The refused questions of ``rows`` grouped by meaning, biggest group first."""
    queries = _distinct([r for r in rows if is_refused(r)])[:MAX_QUERIES]
    if not queries:
        return []
    vectors = np.asarray(embed([q.text for q in queries]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    gaps = []
    for members in cluster(vectors, threshold):
        group = [queries[i] for i in members]  # most asked first
        lead = group[0]
        evidences = [q.evidence for q in group if q.evidence is not None]
        gaps.append(
            Gap(
                count=sum(q.count for q in group),
                example=lead.question,
                last_asked=max(q.last_asked for q in group),
                queries=tuple(q.text for q in group[:MAX_LISTED]),
                evidence=max(evidences) if evidences else None,
            )
        )
    return _ranked(gaps, lambda g: (g.count, g.last_asked, g.example))


def report(
    log: QuestionLog | None,
    embed: Embed,
    *,
    threshold: float,
    since_days: int | None = None,
    now: dt.datetime | None = None,
) -> GapsReport:
    """The gaps and the answers rated down in ``log`` (``None``: the log is off, nothing to
    report), of the last ``since_days`` days (``None``: all that the log keeps)."""
    if since_days is not None and since_days <= 0:
        raise ValueError(f"since must be a positive number of days, not {since_days}")
    if log is None:
        return GapsReport(since="", threshold=threshold, refused=0)
    moment = now or log.clock()
    since = None if since_days is None else moment - dt.timedelta(days=since_days)
    rows = log.questions(since=since, statuses=("no_answer",))
    refused = [r for r in rows if is_refused(r)]
    down = [
        RatedDown(
            answer_id=r.question.answer_id,
            question=r.question.question,
            status=r.question.status,
            comment=r.feedback.comment,
            rated_at=r.feedback.rated_at,
        )
        for r in log.rated("down", since=since)
    ]
    return GapsReport(
        since="" if since is None else iso(since),
        threshold=threshold,
        refused=len(refused),
        gaps=tuple(group_gaps(refused, embed, threshold)),
        rated_down=tuple(down),
    )


def csv_cell(value: object) -> str:
    """A value as a CSV cell a spreadsheet will not run: text starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return gets a leading ``'``."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def to_csv(gaps_report: GapsReport) -> str:
    """The report as CSV: one row per gap (``kind`` ``gap``), then one per answer rated
    down (``rated_down``), under the header :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for gap in gaps_report.gaps:
        row: tuple[object, ...] = (
            "gap", gap.count, gap.example, "no_answer", "", gap.last_asked, " | ".join(gap.queries)
        )  # fmt: skip
        writer.writerow([csv_cell(v) for v in row])
    for down in gaps_report.rated_down:
        row = ("rated_down", 1, down.question, down.status, down.comment, down.rated_at, "")
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def to_text(gaps_report: GapsReport) -> str:
    """The report for a terminal."""
    window = f"since {gaps_report.since}" if gaps_report.since else "in the whole log"
    lines = [
        f"{gaps_report.refused} question(s) refused as not covered {window}, "
        f"in {len(gaps_report.gaps)} group(s):"
    ]
    for n, gap in enumerate(gaps_report.gaps, start=1):
        lines.append(f"{n:>3}. {gap.count}x  {gap.example}  (last asked {gap.last_asked})")
        lines.extend(f"       - {q}" for q in gap.queries[1:])
    lines.append("")
    lines.append(f"{len(gaps_report.rated_down)} answer(s) rated down:")
    for down in gaps_report.rated_down:
        comment = f"  “{down.comment}”" if down.comment else ""
        lines.append(f"  - {down.question}  [{down.status}, {down.rated_at}]{comment}")
    return "\n".join(lines)
