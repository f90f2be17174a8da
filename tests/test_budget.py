"""The latency budget on fakes: the answer cache, the cross-encoder's bound, the admission gate.

The figures (requests/s, p50/p99, 429s) are measured by ``benchmarks/bench_load.py``; these
tests prove the behaviour that the figures rest on.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from chatbot.answering import Chatbot, Turn
from chatbot.api import create_app
from chatbot.api.admission import Admission
from chatbot.cache import LruCache
from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings, SettingsError
from chatbot.library import reindex
from chatbot.retrieval import Retriever
from tests.conftest import FakeEmbedder, FakeIndex, KeywordReranker, fake_settings

QUESTION = "Can Dupixent cause nerve pain?"

# ------------------------------------------------------------------------------ the cache


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    cache: LruCache[str] = LruCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == (True, "A")  # "a" is now the most recently used
    cache.put("c", "C")
    assert len(cache) == 2
    assert cache.get("b") == (False, None)
    assert cache.get("a") == (True, "A") and cache.get("c") == (True, "C")
    assert cache.stats.hits == 3 and cache.stats.misses == 1


def test_the_cache_keeps_none_and_size_zero_keeps_nothing() -> None:
    made: list[str] = []

    def make() -> None:
        made.append("x")

    cache: LruCache[None] = LruCache(4)
    assert cache.get_or_make("k", make) is None
    assert cache.get_or_make("k", make) is None
    assert made == ["x"]
    off: LruCache[int] = LruCache(0)
    off.put("k", 1)
    assert len(off) == 0 and off.get("k") == (False, None)
    with pytest.raises(ValueError, match=">= 0"):
        LruCache(-1)


def test_cache_and_queue_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="CHATBOT_ANSWER_CACHE_SIZE"):
        Settings.from_env({"CHATBOT_ANSWER_CACHE_SIZE": "-1"})
    with pytest.raises(SettingsError, match="CHATBOT_API_WORKERS"):
        Settings.from_env({"CHATBOT_API_WORKERS": "0"})
    with pytest.raises(SettingsError, match="CHATBOT_RERANK_LIMIT"):
        Settings.from_env({"CHATBOT_RERANK_LIMIT": "0"})
    assert Settings.from_env({"CHATBOT_API_QUEUE": "0"}).api_queue == 0


# ------------------------------------------------------------------ answers from the cache


@pytest.fixture
def make_bot(make_fake_index: Callable[..., FakeIndex]) -> Callable[..., Bot]:
    """``make_bot(**settings)``: a chatbot over the fake index, a keyword reranker counting
    the cross-encoder's work."""

    def make(**changes: Any) -> Bot:
        built = make_fake_index(
            config=ChunkingConfig(max_tokens=128), embedder=FakeEmbedder(dimension=512)
        )
        reranker = KeywordReranker("dupixent")
        settings = Settings(evidence_dense_scale=20.0, evidence_dense_shift=-6.0, **changes)
        retriever = Retriever(built.index, built.embedder, reranker, settings)
        return Bot(Chatbot(retriever, settings=settings), reranker)

    return make


@dataclasses.dataclass
class Bot:
    bot: Chatbot
    reranker: KeywordReranker


def _same(a: Any, b: Any) -> bool:
    return dataclasses.replace(a, latency_ms=0.0) == dataclasses.replace(b, latency_ms=0.0)


def test_a_repeated_question_is_answered_from_the_cache(make_bot: Callable[..., Bot]) -> None:
    made = make_bot()
    bot, reranker = made.bot, made.reranker
    first = bot.ask(QUESTION)
    work = len(reranker.calls)
    assert work > 0
    again = bot.ask(QUESTION)
    assert len(reranker.calls) == work  # no search, no cross-encoder
    assert _same(again, first)
    assert bot.answers.stats.hits == 1


def test_the_filter_and_the_index_version_are_part_of_the_key(
    make_bot: Callable[..., Bot],
) -> None:
    made = make_bot()
    bot, reranker = made.bot, made.reranker
    everything = bot.ask(QUESTION)
    work = len(reranker.calls)
    only_lupus = bot.ask(QUESTION, articles=["lupus-nerve-pain"])
    assert len(reranker.calls) > work
    assert {c.article_id for c in only_lupus.citations} <= {"lupus-nerve-pain"}
    assert everything.citations[0].article_id == "dupixent-nerve-pain"
    work = len(reranker.calls)
    index = bot.retriever.index
    bot.retriever.index = dataclasses.replace(index, path=index.path.with_name("v-next"))
    bot.ask(QUESTION)
    assert len(reranker.calls) > work  # a new version: asked again


def test_a_follow_up_is_read_once_per_standalone_query(make_bot: Callable[..., Bot]) -> None:
    made = make_bot()
    bot, reranker = made.bot, made.reranker
    answer = bot.ask(QUESTION)
    history = [
        Turn("user", QUESTION),
        Turn("assistant", answer.answer, tuple(c.article_id for c in answer.citations)),
    ]
    first = bot.ask("what about children?", history)
    work = len(reranker.calls)
    again = bot.ask("what about children?", history)
    # A conversation is not a first message, but its standalone query's reading is kept.
    assert bot.answers.stats.hits == 0
    assert bot.readings.stats.hits >= 1
    assert len(reranker.calls) == work
    assert _same(again, first)


def test_the_cache_is_bounded_and_can_be_turned_off(make_bot: Callable[..., Bot]) -> None:
    made = make_bot(answer_cache_size=0)
    bot, reranker = made.bot, made.reranker
    bot.ask(QUESTION)
    work = len(reranker.calls)
    bot.ask(QUESTION)
    assert len(reranker.calls) == 2 * work
    assert len(bot.answers) == 0 and len(bot.readings) == 0


# ------------------------------------------------------------ the cross-encoder's bound


def test_the_cross_encoder_rescores_at_most_rerank_limit_passages(
    make_bot: Callable[..., Bot],
) -> None:
    made = make_bot(rerank_limit=8)
    bot, reranker = made.bot, made.reranker
    hits = bot.retriever.search(QUESTION, k=30)
    assert reranker.calls == [8]
    assert len(hits) == 30
    assert all(h.rerank_score is not None for h in hits[:8])
    assert all(h.rerank_score is None for h in hits[8:])


# ------------------------------------------------------------------ the admission queue


def _until(condition: Callable[[], bool]) -> None:
    """Wait for another thread to reach a state (bounded; each turn yields the CPU)."""
    for _ in range(20_000):
        if condition():
            return
        time.sleep(0.001)
    raise AssertionError("the state was not reached")


def test_the_queue_serves_in_turn_then_refuses_with_retry_after() -> None:
    admission = Admission(workers=1, queue=1)
    release = threading.Event()
    order: list[str] = []

    def hold(name: str) -> None:
        with admission.turn():
            order.append(name)
            release.wait(timeout=60)

    first = threading.Thread(target=hold, args=("first",))
    first.start()
    _until(lambda: admission.serving == 1)
    second = threading.Thread(target=hold, args=("second",))
    second.start()
    _until(lambda: admission.waiting == 1)
    with pytest.raises(HTTPException) as refused, admission.turn():
        pass
    assert refused.value.status_code == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert "busy" in str(refused.value.detail)
    release.set()
    first.join(timeout=60)
    second.join(timeout=60)
    assert order == ["first", "second"]
    assert (admission.refused, admission.serving, admission.waiting) == (1, 0, 0)


@pytest.fixture
def queue_settings(tmp_path: Path, fake: FakeEmbedder) -> Settings:
    """The API's fake settings with one worker and no room to wait."""
    settings = fake_settings(tmp_path, api_workers=1, api_queue=0)
    reindex(settings)
    return settings


def test_a_full_queue_refuses_new_work_but_serves_kept_answers(queue_settings: Settings) -> None:
    with TestClient(create_app(queue_settings)) as client:
        assert client.post("/ask", json={"question": QUESTION}).status_code == 200
        admission: Admission = client.app.state.admission  # type: ignore[attr-defined]
        release = threading.Event()

        def hold() -> None:
            with admission.turn():
                release.wait(timeout=60)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            _until(lambda: admission.serving == 1)
            kept = client.post("/ask", json={"question": QUESTION})
            assert kept.status_code == 200 and kept.json()["status"] == "answered"
            busy = client.post("/ask", json={"question": "What is IVIG?"})
            assert busy.status_code == 429
            assert int(busy.headers["retry-after"]) >= 1
            assert busy.json()["detail"].startswith("the server is busy")
            assert client.get("/search", params={"q": "IVIG"}).status_code == 429
            follow_up = {
                "question": "and for children?",
                "history": [{"role": "user", "content": QUESTION}],
            }
            assert client.post("/ask", json=follow_up).status_code == 429
            assert client.get("/healthz").status_code == 200  # no turn needed
        finally:
            release.set()
            holder.join(timeout=60)
        assert client.post("/ask", json={"question": "What is IVIG?"}).status_code == 200
