"""The question log: every question asked, its outcome and its feedback, in SQLite.

:class:`~chatbot.library.Service` records one row per answer (``Service.ask``, which the
chat page, ``POST /ask`` and ``chatbot ask`` all call) and stores the thumbs up or down given
to it. What a row holds and what it never holds:

- the question and the standalone query with e-mail addresses and phone numbers redacted
  (:func:`redact`), the answer's status, flags, the best passage's evidence strength, the
  cited article ids, the index version and the time (UTC, ISO 8601);
- no IP address, no user, session or conversation id, no answer text.

The database is in WAL mode and every operation opens its own connection with a busy
timeout, so several processes (the app and the API) write at once without losing a row;
each row is its own transaction, so a process killed mid-write loses at most that row.
Rows older than the retention period are deleted when a log is first used in a process and
then at most once an hour while it writes. A second rating of an answer replaces the first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from chatbot.config import MAX_QUESTION_CHARS

Rating = Literal["up", "down"]
RATINGS: tuple[Rating, ...] = ("up", "down")
MAX_COMMENT_CHARS = 2000
SCHEMA_VERSION = 1
# How long a writer waits for another one's lock before giving up (seconds).
BUSY_TIMEOUT_S = 10.0
PURGE_EVERY_S = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    answer_id     TEXT PRIMARY KEY,
    asked_at      TEXT NOT NULL,
    question      TEXT NOT NULL,
    query         TEXT NOT NULL,
    status        TEXT NOT NULL,
    flags         TEXT NOT NULL,
    evidence      REAL,
    articles      TEXT NOT NULL,
    index_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_asked_at ON questions (asked_at);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT PRIMARY KEY REFERENCES questions (answer_id) ON DELETE CASCADE,
    rating    TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment   TEXT NOT NULL DEFAULT '',
    rated_at  TEXT NOT NULL
);
"""

# An e-mail address: a local part, "@", and a domain of at least two labels.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# A run of digits, optionally opened by "+", in groups separated by a space, dot or dash,
# some in parentheses ("+44 20 7946 0958", "(555) 123-4567", "555.123.4567"); it is a
# phone number when it holds 7 digits or more and is not a date.
_NUMBER_RUN = re.compile(
    r"(?<![\w+])(?:\+ ?)?(?:\(\d{1,5}\)|\d)(?:[ .\-]{0,2}(?:\(\d{1,5}\)|\d))*(?!\w)"
)
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
_PHONE_MIN_DIGITS = 7
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"


def redact(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by ``[email]`` and
    ``[phone]``.

    Example:
        >>> redact("Call +44 20 7946 0958 or mail jo.bloggs+nhs@example.co.uk")
        'Call [phone] or mail [email]'
    """
    text = _EMAIL.sub(EMAIL_MARK, text)

    def phone(match: re.Match[str]) -> str:
        run = match.group(0)
        digits = sum(ch.isdigit() for ch in run)
        if digits < _PHONE_MIN_DIGITS or _DATE.match(run):
            return run
        return PHONE_MARK

    return _NUMBER_RUN.sub(phone, text)


def clean(text: str, limit: int) -> str:
    """``text`` as stored: control characters out, lone surrogates replaced, at most
    ``limit`` characters, redacted."""
    text = _CONTROL.sub(" ", text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return redact(unicodedata.normalize("NFC", text)[:limit]).strip()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """A time as the log stores it: UTC, ISO 8601 to the millisecond (sorts as text)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LoggedQuestion:
    """One row of the log: an answer given, without its text."""

    answer_id: str
    asked_at: str
    question: str
    query: str
    status: str
    flags: tuple[str, ...]
    evidence: float | None
    articles: tuple[str, ...]
    index_version: str

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["flags"] = list(self.flags)
        data["articles"] = list(self.articles)
        return data


@dataclass(frozen=True)
class Feedback:
    """A rating of one answer, with an optional comment (redacted like the questions)."""

    answer_id: str
    rating: Rating
    comment: str
    rated_at: str


@dataclass(frozen=True)
class RatedAnswer:
    """A logged answer with the feedback it got."""

    question: LoggedQuestion
    feedback: Feedback


class UnknownAnswerError(LookupError):
    """No logged answer has that id (never given, older than the retention, or not logged)."""


class QuestionLog:
    """The log in one SQLite file; safe to share between threads and processes.

    ``clock`` gives the current time (UTC); tests pass their own.

    Example:
        >>> log = QuestionLog(Path("index/questions.sqlite3"), retention_days=90)
        >>> log.record(LoggedQuestion("9f1c", iso(utc_now()), "What is IVIG?", "What is IVIG?",
        ...                           "answered", (), 0.93, ("ivig-for-neuropathy",), "v-1"))
        >>> log.rate("9f1c", "up").rating
        'up'
    """

    def __init__(
        self,
        path: Path,
        retention_days: int = 90,
        clock: Callable[[], dt.datetime] = utc_now,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        if retention_days <= 0:
            raise ValueError(f"retention_days must be positive, not {retention_days}")
        self.path = Path(path)
        self.retention_days = retention_days
        self.clock = clock
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._purged_at: float | None = None
        self._checked = False

    # ------------------------------------------------------------------ connections

    @contextlib.contextmanager
    def _connect(self, *, create: bool = True) -> Iterator[sqlite3.Connection | None]:
        """A connection for one operation (``None`` when the file is absent and ``create``
        is false: nothing was logged yet); the schema is made on first use."""
        if not create and not self.path.exists():
            yield None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=True
        )
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            # WAL with synchronous=NORMAL: a committed row survives the process being killed.
            connection.execute("PRAGMA synchronous = NORMAL")
            # Made (or checked) once per log object, and again should the file be replaced.
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if not self._checked or version != SCHEMA_VERSION:
                self._create(connection)
                self._checked = True
            yield connection
        finally:
            connection.close()

    def _create(self, connection: sqlite3.Connection) -> None:
        """Make the tables and switch to WAL (idempotent: two processes may both get here
        first; the second waits for the first's transaction, then finds all made)."""
        # One transaction; a failure leaves it open, and closing the connection undoes it.
        connection.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
        # Switching the journal mode takes the file for itself and does not wait for a
        # busy lock like other statements do: retry until the busy timeout has passed.
        deadline = time.monotonic() + self.busy_timeout_s
        while connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                connection.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    # ------------------------------------------------------------------ writing

    def record(self, row: LoggedQuestion) -> None:
        """Add one answer to the log (its own transaction); old rows are purged at most
        once an hour."""
        with self._connect() as connection:
            assert connection is not None
            connection.execute(
                "INSERT INTO questions (answer_id, asked_at, question, query, status,"
                " flags, evidence, articles, index_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.answer_id,
                    row.asked_at,
                    clean(row.question, MAX_QUESTION_CHARS),
                    clean(row.query, MAX_QUESTION_CHARS),
                    row.status,
                    json.dumps(list(row.flags)),
                    row.evidence,
                    json.dumps(list(row.articles)),
                    row.index_version,
                ),
            )
            if self._purge_due():
                self._purge(connection)

    def rate(self, answer_id: str, rating: Rating, comment: str = "") -> Feedback:
        """Store a rating of a logged answer, replacing an earlier one.

        Raises:
            UnknownAnswerError: no logged answer has that id.
            ValueError: ``rating`` is not ``up`` or ``down``.
        """
        if rating not in RATINGS:
            raise ValueError(f"a rating is 'up' or 'down', not {rating!r}")
        feedback = Feedback(answer_id, rating, clean(comment, MAX_COMMENT_CHARS), iso(self.clock()))
        with self._connect(create=False) as connection:
            if connection is None:
                raise UnknownAnswerError(f"no logged answer {answer_id!r}")
            connection.execute("BEGIN IMMEDIATE")
            try:
                known = connection.execute(
                    "SELECT 1 FROM questions WHERE answer_id = ?", (answer_id,)
                ).fetchone()
                if known is None:
                    raise UnknownAnswerError(f"no logged answer {answer_id!r}")
                connection.execute(
                    "INSERT INTO feedback (answer_id, rating, comment, rated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (answer_id) DO UPDATE SET "
                    "rating = excluded.rating, comment = excluded.comment, "
                    "rated_at = excluded.rated_at",
                    (feedback.answer_id, feedback.rating, feedback.comment, feedback.rated_at),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return feedback

    def purge(self) -> int:
        """Delete the rows (and their feedback) older than the retention; how many."""
        with self._connect(create=False) as connection:
            return 0 if connection is None else self._purge(connection)

    def _purge_due(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._purged_at is not None and now - self._purged_at < PURGE_EVERY_S:
                return False
            self._purged_at = now
            return True

    def _purge(self, connection: sqlite3.Connection) -> int:
        cutoff = iso(self.clock() - dt.timedelta(days=self.retention_days))
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                "DELETE FROM feedback WHERE answer_id IN "
                "(SELECT answer_id FROM questions WHERE asked_at < ?)",
                (cutoff,),
            )
            deleted = connection.execute(
                "DELETE FROM questions WHERE asked_at < ?", (cutoff,)
            ).rowcount
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return int(deleted)

    # ------------------------------------------------------------------ reading

    def questions(
        self, since: dt.datetime | None = None, statuses: Sequence[str] = ()
    ) -> list[LoggedQuestion]:
        """The logged answers, oldest first; those asked at ``since`` or later, with one of
        ``statuses`` when given. Rows older than the retention are purged first."""
        where, params = self._window(since)
        if statuses:
            where += f" AND status IN ({', '.join('?' * len(statuses))})"
            params.extend(statuses)
        with self._connect(create=False) as connection:
            if connection is None:
                return []
            self._purge_once(connection)
            rows = connection.execute(
                f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE {where} ORDER BY asked_at, rowid",
                params,
            ).fetchall()
        return [_question(row) for row in rows]

    def rated(
        self, rating: Rating | None = None, since: dt.datetime | None = None
    ) -> list[RatedAnswer]:
        """The answers that were rated (``rating`` only, when given), latest rating first."""
        where, params = self._window(since, column="f.rated_at")
        if rating is not None:
            where += " AND f.rating = ?"
            params.append(rating)
        columns = ", ".join(f"q.{c}" for c in _QUESTION_COLUMNS.split(", "))
        with self._connect(create=False) as connection:
            if connection is None:
                return []
            self._purge_once(connection)
            rows = connection.execute(
                f"SELECT {columns}, f.rating, f.comment, f.rated_at FROM feedback f "
                f"JOIN questions q ON q.answer_id = f.answer_id WHERE {where} "
                "ORDER BY f.rated_at DESC, f.rowid DESC",
                params,
            ).fetchall()
        return [
            RatedAnswer(_question(row[:9]), Feedback(row[0], row[9], row[10], row[11]))
            for row in rows
        ]

    def feedback(self, answer_id: str) -> Feedback | None:
        """The rating of one answer, if it has one."""
        with self._connect(create=False) as connection:
            if connection is None:
                return None
            row = connection.execute(
                "SELECT answer_id, rating, comment, rated_at FROM feedback WHERE answer_id = ?",
                (answer_id,),
            ).fetchone()
        return None if row is None else Feedback(*row)

    def _purge_once(self, connection: sqlite3.Connection) -> None:
        if self._purge_due():
            self._purge(connection)

    @staticmethod
    def _window(since: dt.datetime | None, column: str = "asked_at") -> tuple[str, list[Any]]:
        if since is None:
            return "1 = 1", []
        return f"{column} >= ?", [iso(since)]


_QUESTION_COLUMNS = (
    "answer_id, asked_at, question, query, status, flags, evidence, articles, index_version"
)


def _question(row: Sequence[Any]) -> LoggedQuestion:
    return LoggedQuestion(
        answer_id=row[0],
        asked_at=row[1],
        question=row[2],
        query=row[3],
        status=row[4],
        flags=tuple(json.loads(row[5])),
        evidence=row[6],
        articles=tuple(json.loads(row[7])),
        index_version=row[8],
    )
