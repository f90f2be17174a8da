"""The question log: redaction, what a row holds, retention, feedback, answer ids with the
answer cache, the index's garbage collection, and two processes writing at once."""

from __future__ import annotations

import datetime as dt
import itertools
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chatbot import library
from chatbot.config import Settings, SettingsError
from chatbot.library import Service
from chatbot.questionlog import (
    MAX_COMMENT_CHARS,
    LoggedQuestion,
    QuestionLog,
    UnknownAnswerError,
    iso,
    redact,
)
from tests.conftest import REPO, FakeEmbedder, fake_settings

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
UNCOVERED = "Is ozempic good for weight loss?"


class Clock:
    """A settable clock for the log."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def row(answer_id: str, asked_at: dt.datetime = T0, **changes: object) -> LoggedQuestion:
    values: dict[str, object] = {
        "answer_id": answer_id,
        "asked_at": iso(asked_at),
        "question": "What is IVIG?",
        "query": "What is IVIG?",
        "status": "answered",
        "flags": (),
        "evidence": 0.9,
        "articles": ("ivig-for-neuropathy",),
        "index_version": "v-1",
    }
    values.update(changes)
    return LoggedQuestion(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ redaction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on +44 20 7946 0958 please", "call me on [phone] please"),
        ("my number is (555) 123-4567.", "my number is [phone]."),
        ("555.123.4567", "[phone]"),
        ("555-123-4567 or 555 123 4567", "[phone] or [phone]"),
        ("+1 (555) 123-4567", "[phone]"),
        ("+1-555-123-4567", "[phone]"),
        ("07946 095858", "[phone]"),
        ("+33 1 23 45 67 89", "[phone]"),
        ("5551234567", "[phone]"),
        ("ring 555 1234", "ring [phone]"),
        ("name.surname+tag@example.co.uk", "[email]"),
        ("Write to Jo.Bloggs@NHS.net, thanks", "Write to [email], thanks"),
        ("a_b-c@mail-server.example.org?", "[email]?"),
        (
            "I'm jo@x.io, +44 20 7946 0958: is IVIG safe?",
            "I'm [email], [phone]: is IVIG safe?",
        ),
    ],
)
def test_emails_and_phone_numbers_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Is 400 mg of gabapentin a lot?",
        "IVIG 0.4 g/kg for 5 days",
        "I started on 2024-01-26 and again on 26.01.2024",
        "1,000,000 units",
        "born in 1980, diagnosed in 2019",
        "B12 level of 150 pg/mL",
        "Is @dupixent on social media?",
    ],
)
def test_doses_dates_and_short_numbers_are_kept(text: str) -> None:
    assert redact(text) == text


# ------------------------------------------------------------------------ the log


def test_a_row_holds_what_is_documented_and_nothing_about_the_asker(tmp_path: Path) -> None:
    log = QuestionLog(tmp_path / "q.sqlite3", clock=Clock())
    log.record(
        row(
            "a" * 32,
            question="I'm jo@x.io, (555) 123-4567: is IVIG safe\x00 in pregnancy?",
            query="is IVIG safe in pregnancy? call 555.123.4567",
            status="no_answer",
            flags=("low_evidence", "not_covered"),
            evidence=0.1234,
            articles=(),
        )
    )
    assert log.questions() == [
        LoggedQuestion(
            answer_id="a" * 32,
            asked_at="2026-03-01T12:00:00.000+00:00",
            question="I'm [email], [phone]: is IVIG safe  in pregnancy?",
            query="is IVIG safe in pregnancy? call [phone]",
            status="no_answer",
            flags=("low_evidence", "not_covered"),
            evidence=0.1234,
            articles=(),
            index_version="v-1",
        )
    ]
    with sqlite3.connect(log.path) as db:
        columns = {
            table: [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            for table in ("questions", "feedback")
        }
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert columns == {
        "questions": [
            "answer_id", "asked_at", "question", "query", "status", "flags", "evidence",
            "articles", "index_version",
        ],
        "feedback": ["answer_id", "rating", "comment", "rated_at"],
    }  # fmt: skip


def test_text_is_cut_and_cleaned_before_it_is_stored(tmp_path: Path) -> None:
    log = QuestionLog(tmp_path / "q.sqlite3", clock=Clock())
    log.record(row("b" * 32, question="x" * 5000, query="lone \ud800 surrogate"))
    (logged,) = log.questions()
    assert logged.question == "x" * 2000
    assert logged.query == "lone ? surrogate"
    feedback = log.rate("b" * 32, "down", "y" * 3000 + " jo@x.io")
    assert feedback.comment == "y" * MAX_COMMENT_CHARS


def test_retention_deletes_older_rows_and_their_feedback(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    clock = Clock(T0 - dt.timedelta(days=100))
    old = QuestionLog(path, retention_days=90, clock=clock)
    old.record(row("1" * 32, asked_at=clock.now))
    old.rate("1" * 32, "down", "old")
    clock.now = T0 - dt.timedelta(days=89)
    old.record(row("2" * 32, asked_at=clock.now))
    clock.now = T0
    # The first use of a log in a process purges: here, a read.
    fresh = QuestionLog(path, retention_days=90, clock=Clock(T0))
    assert [q.answer_id for q in fresh.questions()] == ["2" * 32]
    assert fresh.feedback("1" * 32) is None
    assert fresh.rated() == []
    with pytest.raises(UnknownAnswerError):
        fresh.rate("1" * 32, "up")
    # And a write purges too (at most once an hour): a log that only writes keeps its bound.
    writer = QuestionLog(path, retention_days=30, clock=Clock(T0))
    writer.record(row("3" * 32))
    assert [q.answer_id for q in writer.questions()] == ["3" * 32]
    assert writer.purge() == 0


def test_a_second_rating_replaces_the_first(tmp_path: Path) -> None:
    clock = Clock()
    log = QuestionLog(tmp_path / "q.sqlite3", clock=clock)
    log.record(row("c" * 32))
    first = log.rate("c" * 32, "up")
    assert (first.rating, first.comment, first.rated_at) == ("up", "", iso(T0))
    clock.now = T0 + dt.timedelta(minutes=1)
    log.rate("c" * 32, "down", "it did not answer; mail me at jo@x.io")
    (rated,) = log.rated()
    assert rated.question.answer_id == "c" * 32
    assert (rated.feedback.rating, rated.feedback.comment, rated.feedback.rated_at) == (
        "down",
        "it did not answer; mail me at [email]",
        iso(clock.now),
    )
    assert log.rated("up") == []
    with pytest.raises(ValueError, match="a rating is 'up' or 'down', not 'meh'"):
        log.rate("c" * 32, "meh")  # type: ignore[arg-type]
    with pytest.raises(UnknownAnswerError, match="no logged answer 'unknown'"):
        log.rate("unknown", "up")


def test_reading_an_absent_log_creates_nothing(tmp_path: Path) -> None:
    log = QuestionLog(tmp_path / "none" / "q.sqlite3")
    assert log.questions() == [] and log.rated() == [] and log.feedback("x") is None
    with pytest.raises(UnknownAnswerError):
        log.rate("x", "up")
    assert not (tmp_path / "none").exists()


def test_the_log_settings_are_checked() -> None:
    settings = Settings.from_env(
        {
            "CHATBOT_QUESTION_LOG": "off",
            "CHATBOT_QUESTION_LOG_PATH": "/srv/log/questions.db",
            "CHATBOT_QUESTION_LOG_RETENTION_DAYS": "30",
            "CHATBOT_GAPS_THRESHOLD": "0.7",
        }
    )
    assert (settings.question_log, settings.question_log_retention_days) == ("off", 30)
    assert settings.question_log_file == Path("/srv/log/questions.db")
    assert settings.gaps_threshold == 0.7
    assert Settings(index_dir=Path("/x")).question_log_file == Path("/x/questions.sqlite3")
    for env, message in [
        ({"CHATBOT_QUESTION_LOG": "maybe"}, "CHATBOT_QUESTION_LOG must be 'on' or 'off'"),
        (
            {"CHATBOT_QUESTION_LOG_RETENTION_DAYS": "0"},
            "CHATBOT_QUESTION_LOG_RETENTION_DAYS must be a positive integer",
        ),
        ({"CHATBOT_GAPS_THRESHOLD": "0"}, r"CHATBOT_GAPS_THRESHOLD must be in \(0, 1\]"),
        ({"CHATBOT_GAPS_THRESHOLD": "1.5"}, r"CHATBOT_GAPS_THRESHOLD must be in \(0, 1\]"),
    ]:
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)


# ---------------------------------------------------------------------- the service


@pytest.fixture
def service(tmp_path: Path, fake: FakeEmbedder) -> Service:
    settings = fake_settings(tmp_path)
    library.reindex(settings)
    return Service(settings)


def test_every_ask_gets_its_own_answer_id_and_row_even_from_the_cache(service: Service) -> None:
    answers = [service.ask(UNCOVERED) for _ in range(3)]
    assert service.chatbot.answers.stats.hits == 2  # the repeats came from the answer cache
    ids = [a.answer_id for a in answers]
    assert len(set(ids)) == 3 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert {a.evidence for a in answers} == {answers[0].evidence}
    assert service.questions is not None
    assert [q.answer_id for q in service.questions.questions()] == ids


def test_a_row_records_the_answer(service: Service) -> None:
    answered = service.ask("What is IVIG made from? mail jo@x.io")
    refused = service.ask(UNCOVERED)
    hello = service.ask("hello")
    assert service.questions is not None
    rows = {q.answer_id: q for q in service.questions.questions()}
    version = service.version
    first = rows[answered.answer_id]
    assert first.question == "What is IVIG made from? mail [email]"
    assert first.query == redact(answered.query)
    assert (first.status, first.flags, first.evidence) == (
        answered.status,
        answered.flags,
        answered.evidence,
    )
    assert first.articles == tuple(dict.fromkeys(c.article_id for c in answered.citations))
    assert first.articles and first.index_version == version
    assert dt.datetime.fromisoformat(first.asked_at).utcoffset() == dt.timedelta(0)
    second = rows[refused.answer_id]
    assert (second.status, second.flags, second.evidence, second.articles) == (
        "no_answer",
        refused.flags,
        refused.evidence,
        tuple(dict.fromkeys(c.article_id for c in refused.citations)),
    )
    assert {"not_covered", "low_evidence"} & set(second.flags)
    assert refused.evidence < service.settings.answer_min_evidence
    third = rows[hello.answer_id]
    assert (third.status, third.evidence) == ("conversation", None)


def test_feedback_goes_through_the_service(service: Service) -> None:
    answer = service.ask(UNCOVERED)
    stored = service.feedback(answer.answer_id, "down", "not what I asked")
    assert (stored.answer_id, stored.rating, stored.comment) == (
        answer.answer_id,
        "down",
        "not what I asked",
    )
    with pytest.raises(UnknownAnswerError):
        service.feedback("0" * 32, "up")


def test_log_false_and_the_setting_off_log_nothing(tmp_path: Path, fake: FakeEmbedder) -> None:
    settings = fake_settings(tmp_path)
    library.reindex(settings)
    service = Service(settings)
    answer = service.ask(UNCOVERED, log=False)
    assert len(answer.answer_id) == 32
    assert not settings.question_log_file.exists()
    off = Service(settings.with_overrides(question_log="off"))
    assert off.questions is None
    assert len(off.ask(UNCOVERED).answer_id) == 32
    assert not settings.question_log_file.exists()
    with pytest.raises(UnknownAnswerError, match="the question log is off"):
        off.feedback(answer.answer_id, "up")
    assert off.gaps().gaps == ()


def test_a_named_path_holds_the_log(tmp_path: Path, fake: FakeEmbedder) -> None:
    settings = fake_settings(tmp_path, question_log_path=str(tmp_path / "elsewhere" / "q.db"))
    library.reindex(settings)
    answer = Service(settings).ask(UNCOVERED)
    assert not (settings.index_dir / "questions.sqlite3").exists()
    log = QuestionLog(tmp_path / "elsewhere" / "q.db")
    assert [q.answer_id for q in log.questions()] == [answer.answer_id]


def test_the_index_garbage_collection_keeps_the_log(tmp_path: Path, fake: FakeEmbedder) -> None:
    settings = fake_settings(tmp_path)
    library.reindex(settings)
    service = Service(settings)
    asked = [service.ask(UNCOVERED).answer_id]
    for n in range(3):  # new versions: the older ones are collected
        path = settings.corpus_dir / "lupus-nerve-pain.md"
        path.write_text(path.read_text("utf-8") + f"\n\nLupus note {n} for a new version.\n")
        library.reindex(settings, rebuild=n == 2)
        asked.append(service.ask(UNCOVERED).answer_id)
    assert service.questions is not None
    logged = service.questions.questions()
    assert [q.answer_id for q in logged] == asked
    assert len({q.index_version for q in logged}) == 4
    assert settings.question_log_file.parent == settings.index_dir


# -------------------------------------------------------------- processes at once

ROWS_PER_PROCESS = 300
# Writes rows to the log named on its command line once a line arrives on stdin, and
# prints how many it has committed after each one.
WRITER = """
import sys
from pathlib import Path
from chatbot.questionlog import LoggedQuestion, QuestionLog, iso, utc_now

path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = QuestionLog(Path(path))
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    log.record(LoggedQuestion(f"{name}-{i:07d}", iso(utc_now()), f"question {i} of {name}",
                              "q", "answered", (), 0.5, (), "v-1"))
    print(i + 1, flush=True)
"""


def writer(path: Path, name: str, rows: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), name, str(rows)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process


def test_two_processes_write_at_once_and_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    processes = [writer(path, name, ROWS_PER_PROCESS) for name in ("app", "api")]
    watchdogs = [threading.Timer(180, p.kill) for p in processes]  # a bound on every wait
    for watchdog in watchdogs:
        watchdog.start()
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
        for process in processes:  # both go at once
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=180)[0] for process in processes]
    finally:
        for watchdog in watchdogs:
            watchdog.cancel()
    assert [p.returncode for p in processes] == [0, 0]
    assert [out.split()[-1] for out in outputs] == [str(ROWS_PER_PROCESS)] * 2
    ids = [q.answer_id for q in QuestionLog(path).questions()]
    expected = {f"{name}-{i:07d}" for name in ("app", "api") for i in range(ROWS_PER_PROCESS)}
    assert len(ids) == 2 * ROWS_PER_PROCESS and set(ids) == expected
    # The two writers' rows interleave: they did write at the same time.
    owners = [i.split("-")[0] for i in ids]
    assert sum(a != b for a, b in itertools.pairwise(owners)) > 1


def test_a_killed_writer_loses_at_most_the_row_it_was_writing(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    process = writer(path, "k", 1_000_000)
    watchdog = threading.Timer(120, process.kill)  # a bound on the whole wait
    watchdog.start()
    committed = 0
    try:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline() == "ready\n"
        process.stdin.write("go\n")
        process.stdin.flush()
        for line in process.stdout:
            committed = int(line)
            if committed >= 200:
                process.send_signal(signal.SIGKILL)  # while it goes on writing
                break
        process.wait(timeout=30)
    finally:
        watchdog.cancel()
    assert process.returncode == -signal.SIGKILL
    assert committed >= 200
    ids = [q.answer_id for q in QuestionLog(path).questions()]
    # Every row written before the kill is there, in order, without a gap: only the row
    # being written when the kill came can be missing.
    assert len(ids) >= committed
    assert ids == [f"k-{i:07d}" for i in range(len(ids))]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
