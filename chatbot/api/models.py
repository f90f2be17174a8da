"""The API's own request and response bodies.

Answers, citations, passages, articles, re-index reports, feedback and the gaps report are
the library's dataclasses (:class:`chatbot.answering.Answer`, :class:`chatbot.retrieval.Hit`,
:class:`chatbot.library.ArticleInfo`, :class:`chatbot.index.IndexReport`,
:class:`chatbot.questionlog.Feedback`, :class:`chatbot.gaps.GapsReport`), used as response
models as they are; only what exists for HTTP alone is declared here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatbot.api.limits import (
    MAX_COMMENT_CHARS,
    MAX_HISTORY_TURNS,
    MAX_QUESTION_CHARS,
    MAX_TURN_CHARS,
)
from chatbot.library import ArticleInfo

Question = Annotated[str, StringConstraints(max_length=MAX_QUESTION_CHARS)]
TurnText = Annotated[str, StringConstraints(max_length=MAX_TURN_CHARS)]


class TurnIn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: TurnText
    # For an answer: the article ids it cited (a follow-up searches them first).
    articles: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=list, max_length=20
    )


class AskRequest(BaseModel):
    """A question and, for a follow-up, the conversation so far (oldest first)."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    history: list[TurnIn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)


class FeedbackRequest(BaseModel):
    """A thumbs up or down on an answer, by the ``answer_id`` that ``POST /ask`` gave it."""

    model_config = ConfigDict(extra="forbid")

    answer_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    rating: Literal["up", "down"]
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS)] = ""


class Uploaded(BaseModel):
    """The articles an upload saved into the corpus (searchable after ``POST /reindex``)."""

    saved: list[ArticleInfo]
    detail: str


class Deleted(BaseModel):
    """The files a delete removed from the corpus (gone from answers after ``POST /reindex``)."""

    deleted: str
    files: list[str]
    detail: str


class Health(BaseModel):
    """The live index: its version and size."""

    status: Literal["ok"]
    version: str
    articles: int
    chunks: int
    embedding_model: str


class FieldError(BaseModel):
    """One problem with a request: where (``["body", "question"]``) and what."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """Every error response: ``detail`` says what is wrong and how to fix it."""

    detail: str
    errors: list[FieldError] = Field(default_factory=list)
