"""The retrieval gold set in eval/questions.jsonl: format, counts, and phrases that exist.

Self-contained on purpose (standard library only, no project imports): the gold set must stay
valid against the corpus whatever the pipeline does.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
GOLD_SET = REPO / "eval" / "questions.jsonl"

KINDS = {"direct", "paraphrase", "lay", "misspelling", "multi", "out_of_scope"}
REQUIRED = {
    "id": str,
    "question": str,
    "gold": list,
    "key_phrases": list,
    "kind": str,
    "in_scope": bool,
}
MIN_IN_SCOPE = 70
MIN_PER_ARTICLE = 10
MIN_PER_KIND = {"paraphrase": 12, "lay": 12, "misspelling": 8, "multi": 8, "out_of_scope": 20}
PHRASE_WORDS = (2, 8)
# A question sharing this many consecutive words with its article copies it, not asks it.
COPY_WINDOW = 7

_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)


@functools.cache
def article_body(article_id: str) -> str:
    """The article text after its YAML front matter, line ends normalised."""
    text = (CORPUS / f"{article_id}.md").read_text(encoding="utf-8-sig")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("---\n"):
        end = _FRONT_MATTER_END.search(text, 4)
        assert end is not None, f"{article_id}: front matter is not closed"
        text = text[end.end() :]
    return text


def body_lines(article_id: str) -> list[str]:
    """Body lines that are article text, not Markdown headings."""
    return [line for line in article_body(article_id).splitlines() if not line.startswith("#")]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def corpus_ids() -> set[str]:
    return {path.stem for path in CORPUS.glob("*.md")}


def load_entries() -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(GOLD_SET.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"line {number} is blank"
        entry = json.loads(line)
        assert isinstance(entry, dict), f"line {number} is not a JSON object"
        entries.append(entry)
    return entries


ENTRIES = load_entries()
IN_SCOPE = [e for e in ENTRIES if e.get("in_scope") is True]
OUT_OF_SCOPE = [e for e in ENTRIES if e.get("in_scope") is False]


def entry_id(entry: dict[str, Any]) -> str:
    return str(entry.get("id"))


def test_corpus_has_the_five_articles() -> None:
    assert corpus_ids() == {
        "dupixent-nerve-pain",
        "immunotherapy-nerve-pain",
        "immune-mediated-neuropathy",
        "lupus-nerve-pain",
        "ivig-for-neuropathy",
    }


def test_ids_are_unique_and_well_formed() -> None:
    ids = [e.get("id") for e in ENTRIES]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    assert all(isinstance(i, str) and re.fullmatch(r"q\d{3}", i) for i in ids), ids


def test_first_question() -> None:
    assert ENTRIES[0]["id"] == "q001"
    assert ENTRIES[0]["question"] == "Can Dupixent cause nerve pain?"
    assert ENTRIES[0]["gold"] == ["dupixent-nerve-pain"]


def test_questions_are_unique() -> None:
    questions = Counter(" ".join(words(e["question"])) for e in ENTRIES)
    assert [q for q, n in questions.items() if n > 1] == []


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_keys_and_types(entry: dict[str, Any]) -> None:
    # In-scope questions also name the phrases an answer's first sentence should hold.
    expected = set(REQUIRED) | ({"lead_phrases"} if entry["in_scope"] else set())
    assert set(entry) == expected
    for key, kind in REQUIRED.items():
        assert isinstance(entry[key], kind), f"{key} should be {kind.__name__}"
    assert entry["question"].strip() == entry["question"] and entry["question"]
    assert all(isinstance(g, str) for g in entry["gold"])
    assert all(isinstance(p, str) for p in entry["key_phrases"])
    assert entry["kind"] in KINDS


@pytest.mark.parametrize("entry", OUT_OF_SCOPE, ids=entry_id)
def test_out_of_scope_entries(entry: dict[str, Any]) -> None:
    assert entry["kind"] == "out_of_scope"
    assert entry["gold"] == []
    assert entry["key_phrases"] == []


@pytest.mark.parametrize("entry", IN_SCOPE, ids=entry_id)
def test_in_scope_gold(entry: dict[str, Any]) -> None:
    gold = entry["gold"]
    assert entry["kind"] != "out_of_scope"
    assert set(gold) <= corpus_ids(), f"unknown article ids: {set(gold) - corpus_ids()}"
    assert len(gold) == len(set(gold))
    expected = 2 if entry["kind"] == "multi" else 1
    assert len(gold) == expected, f"a {entry['kind']} question has {expected} gold article(s)"
    assert entry["key_phrases"], "an in-scope question needs key phrases"


@pytest.mark.parametrize("entry", IN_SCOPE, ids=entry_id)
def test_key_phrases_are_verbatim_article_text(entry: dict[str, Any]) -> None:
    low, high = PHRASE_WORDS
    for phrase in entry["key_phrases"]:
        assert phrase == phrase.strip() and "\n" not in phrase, repr(phrase)
        assert low <= len(phrase.split()) <= high, f"{phrase!r} is not {low}-{high} words"
        found_in = [g for g in entry["gold"] if any(phrase in line for line in body_lines(g))]
        assert found_in, f"{phrase!r} is not in the body text of {entry['gold']}"
    for gold in entry["gold"]:
        assert any(
            phrase in line for phrase in entry["key_phrases"] for line in body_lines(gold)
        ), f"no key phrase comes from {gold}"


@pytest.mark.parametrize("entry", IN_SCOPE, ids=entry_id)
def test_lead_phrases_are_verbatim_article_text(entry: dict[str, Any]) -> None:
    assert 1 <= len(entry["lead_phrases"]) <= 3
    for phrase in entry["lead_phrases"]:
        assert phrase == phrase.strip() and "\n" not in phrase, repr(phrase)
        assert 3 <= len(phrase.split()) <= 12, f"{phrase!r} is not 3-12 words"
        assert not re.search(r"\[(?:PM)?\d+\]", phrase), f"{phrase!r} holds a reference marker"
        found_in = [g for g in entry["gold"] if any(phrase in line for line in body_lines(g))]
        assert found_in, f"{phrase!r} is not in the body text of {entry['gold']}"


@pytest.mark.parametrize("entry", IN_SCOPE, ids=entry_id)
def test_questions_do_not_copy_the_article(entry: dict[str, Any]) -> None:
    question = words(entry["question"])
    windows = {tuple(question[i : i + COPY_WINDOW]) for i in range(len(question) - COPY_WINDOW + 1)}
    for gold in entry["gold"]:
        body = words(article_body(gold))
        copied = [
            " ".join(body[i : i + COPY_WINDOW])
            for i in range(len(body) - COPY_WINDOW + 1)
            if tuple(body[i : i + COPY_WINDOW]) in windows
        ]
        assert copied == [], f"question copies {gold}: {copied}"


def test_counts() -> None:
    kinds = Counter(e["kind"] for e in ENTRIES)
    assert len(IN_SCOPE) >= MIN_IN_SCOPE
    for kind, minimum in MIN_PER_KIND.items():
        assert kinds[kind] >= minimum, f"{kind}: {kinds[kind]} < {minimum}"
    per_article = Counter(g for e in IN_SCOPE for g in e["gold"])
    for article in corpus_ids():
        assert per_article[article] >= MIN_PER_ARTICLE, f"{article}: {per_article[article]}"
