"""The gaps report: refused questions grouped by meaning (on the fake embedder's
bag-of-words vectors, so that rewordings share words), the answers rated down, and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pytest

from chatbot import gaps
from chatbot.gaps import Gap, GapsReport, RatedDown
from chatbot.questionlog import LoggedQuestion, QuestionLog, iso
from tests.conftest import FakeEmbedder

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
REFUSED = ("low_evidence", "not_covered")


def at(minutes: int) -> str:
    return iso(T0 + dt.timedelta(minutes=minutes))


def asked(
    n: int,
    query: str,
    question: str | None = None,
    status: str = "no_answer",
    flags: tuple[str, ...] = REFUSED,
    evidence: float | None = 0.1,
) -> LoggedQuestion:
    """The question asked at minute ``n`` (its id is ``n`` too)."""
    return LoggedQuestion(
        answer_id=f"{n:032x}",
        asked_at=at(n),
        question=question if question is not None else query,
        query=query,
        status=status,
        flags=flags,
        evidence=evidence,
        articles=(),
        index_version="v-1",
    )


ROWS = [
    asked(1, "Is ozempic good for weight loss?", evidence=0.05),
    asked(2, "ozempic for weight loss", flags=("low_evidence",), evidence=0.2),
    asked(3, "Does ozempic help weight loss?", flags=("not_covered",), evidence=None),
    asked(4, "What are the opening hours of the pharmacy?", evidence=0.09),
    asked(5, "  is OZEMPIC good for weight loss? ", "ozempic, good for weight loss??"),
    asked(6, "pharmacy opening hours", evidence=0.08),
    asked(7, "Is ozempic safe for cats?", evidence=0.3),
    # Not gaps: answered, refused for another reason (an empty message), conversation,
    # an emergency.
    asked(8, "What is IVIG?", status="answered", flags=()),
    asked(9, "", status="no_answer", flags=()),
    asked(10, "", "hello", status="conversation", flags=("intent:greeting",)),
    asked(11, "ozempic weight loss", status="emergency", flags=("emergency",)),
]


def embed(texts: object) -> np.ndarray:
    return FakeEmbedder().embed_documents(list(texts))  # type: ignore[call-overload]


def test_cluster_joins_the_nearest_group_over_the_threshold() -> None:
    vectors = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0], [0.6, 0.8], [0.28, 0.96]])
    assert gaps.cluster(vectors, 0.9) == [[0, 1], [2, 4], [3]]
    assert gaps.cluster(vectors, 0.5) == [[0, 1], [2, 3, 4]]  # 3 is nearer to 2 than to 0 and 1
    assert gaps.cluster(vectors, 1.0) == [[0], [1], [2], [3], [4]]
    assert gaps.cluster(np.zeros((0, 2)), 0.9) == []


def test_refused_questions_are_grouped_by_meaning_biggest_first() -> None:
    assert gaps.group_gaps(ROWS, embed, threshold=0.8) == [
        Gap(
            count=4,
            example="ozempic, good for weight loss??",  # the latest wording of the most asked
            last_asked=at(5),
            queries=(
                "is OZEMPIC good for weight loss?",  # as last asked
                "Does ozempic help weight loss?",
                "ozempic for weight loss",
            ),
            evidence=0.2,
        ),
        Gap(
            count=2,
            example="pharmacy opening hours",
            last_asked=at(6),
            queries=("pharmacy opening hours", "What are the opening hours of the pharmacy?"),
            evidence=0.09,
        ),
        Gap(
            count=1,
            example="Is ozempic safe for cats?",
            last_asked=at(7),
            queries=("Is ozempic safe for cats?",),
            evidence=0.3,
        ),
    ]


def test_grouping_is_deterministic_and_follows_the_threshold() -> None:
    first = gaps.group_gaps(ROWS, embed, threshold=0.8)
    assert gaps.group_gaps(list(reversed(ROWS)), embed, threshold=0.8) == first
    strict = gaps.group_gaps(ROWS, embed, threshold=0.99)
    # Only wordings with the very same content words stay together.
    assert [(g.count, g.queries) for g in strict] == [
        (2, ("pharmacy opening hours", "What are the opening hours of the pharmacy?")),
        (2, ("is OZEMPIC good for weight loss?",)),  # as many, asked less lately
        (1, ("Is ozempic safe for cats?",)),
        (1, ("Does ozempic help weight loss?",)),
        (1, ("ozempic for weight loss",)),
    ]
    assert gaps.group_gaps(ROWS[7:], embed, threshold=0.8) == []


def test_the_embedder_is_not_asked_when_nothing_was_refused() -> None:
    def refuse(texts: object) -> np.ndarray:
        raise AssertionError("no embedding wanted")

    assert gaps.group_gaps(ROWS[7:], refuse, threshold=0.8) == []


def log_with_feedback(path: Path) -> QuestionLog:
    clock = _Clock()
    log = QuestionLog(path, clock=clock)
    for row in ROWS:
        clock.now = dt.datetime.fromisoformat(row.asked_at)
        log.record(row)
    clock.now = T0 + dt.timedelta(minutes=20)
    log.rate(ROWS[0].answer_id, "down", '=HYPERLINK("http://x") not helpful')
    clock.now = T0 + dt.timedelta(minutes=21)
    log.rate(ROWS[7].answer_id, "up", "great")
    clock.now = T0 + dt.timedelta(minutes=22)
    log.rate(ROWS[7].answer_id, "down")  # replaces the thumbs up
    clock.now = T0 + dt.timedelta(days=2)
    return log


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def test_the_report_lists_gaps_then_the_answers_rated_down(tmp_path: Path) -> None:
    log = log_with_feedback(tmp_path / "q.sqlite3")
    report = gaps.report(log, embed, threshold=0.8)
    assert (report.since, report.threshold, report.refused) == ("", 0.8, 7)
    assert report.gaps == tuple(gaps.group_gaps(ROWS, embed, threshold=0.8))
    assert report.rated_down == (
        RatedDown(ROWS[7].answer_id, "What is IVIG?", "answered", "", at(22)),
        RatedDown(
            ROWS[0].answer_id,
            "Is ozempic good for weight loss?",
            "no_answer",
            '=HYPERLINK("http://x") not helpful',
            at(20),
        ),
    )
    data = report.as_json()
    assert list(data) == ["since", "threshold", "refused", "gaps", "rated_down"]
    assert data["gaps"][0]["queries"] == list(report.gaps[0].queries)  # type: ignore[index]


def test_since_keeps_the_last_days_only(tmp_path: Path) -> None:
    log = log_with_feedback(tmp_path / "q.sqlite3")
    recent = gaps.report(log, embed, threshold=0.8, since_days=1)
    assert (recent.since, recent.refused, recent.gaps, recent.rated_down) == (
        iso(T0 + dt.timedelta(days=1)),
        0,
        (),
        (),
    )
    week = gaps.report(log, embed, threshold=0.8, since_days=7)
    assert week.refused == 7 and len(week.rated_down) == 2
    with pytest.raises(ValueError, match="since must be a positive number of days, not 0"):
        gaps.report(log, embed, threshold=0.8, since_days=0)
    off = gaps.report(None, embed, threshold=0.8)
    assert off == GapsReport(since="", threshold=0.8, refused=0)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+44 20 7946 0958", "'+44 20 7946 0958"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tindent", "'\tindent"),
        ("\rreturn", "'\rreturn"),
        ("Is IVIG safe?", "Is IVIG safe?"),
        ("a = b", "a = b"),
        (3, "3"),
        (None, ""),
    ],
)
def test_csv_cells_that_look_like_formulas_are_neutralised(value: object, cell: str) -> None:
    assert gaps.csv_cell(value) == cell


def test_the_csv_export() -> None:
    report = GapsReport(
        since="",
        threshold=0.85,
        refused=3,
        gaps=(
            Gap(2, "=cmd|' /C calc'!A0", at(5), ("=cmd|' /C calc'!A0", "ozempic, weight")),
            Gap(1, "Is ozempic safe for cats?", at(7), ("Is ozempic safe for cats?",)),
        ),
        rated_down=(
            RatedDown("ab" * 16, '@ "quoted", question', "answered", "-bad\nanswer", at(9)),
        ),
    )
    text = gaps.to_csv(report)
    assert text.startswith("kind,count,question,status,comment,when,queries\r\n")
    assert list(csv.reader(io.StringIO(text))) == [
        list(gaps.CSV_COLUMNS),
        ["gap", "2", "'=cmd|' /C calc'!A0", "no_answer", "", at(5),
         "'=cmd|' /C calc'!A0 | ozempic, weight"],
        ["gap", "1", "Is ozempic safe for cats?", "no_answer", "", at(7),
         "Is ozempic safe for cats?"],
        ["rated_down", "1", "'@ \"quoted\", question", "answered", "'-bad\nanswer", at(9), ""],
    ]  # fmt: skip


def test_the_text_report() -> None:
    report = GapsReport(
        since=at(0),
        threshold=0.85,
        refused=3,
        gaps=(Gap(3, "Is ozempic good for weight loss?", at(5), ("a", "b")),),
        rated_down=(RatedDown("ab" * 16, "What is IVIG?", "answered", "too short", at(9)),),
    )
    assert gaps.to_text(report).splitlines() == [
        f"3 question(s) refused as not covered since {at(0)}, in 1 group(s):",
        f"  1. 3x  Is ozempic good for weight loss?  (last asked {at(5)})",
        "       - b",
        "",
        "1 answer(s) rated down:",
        f"  - What is IVIG?  [answered, {at(9)}]  “too short”",
    ]
