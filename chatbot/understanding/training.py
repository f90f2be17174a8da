"""Fit the intent reader and the coverage judge; measure both held out.

    python -m chatbot.understanding.training [--out PATH] [--json]

- **Intent reader**: a multinomial logistic regression over the embeddings of the examples in
  ``data/conversation.yaml`` (each intent, and questions). Its probability floor is chosen by
  cross-validation: questions held out five folds at a time must stay under it (its value is
  their 99th percentile plus 0.02, at least 0.4); the report also gives how many examples of
  an intent left out entirely are still read as conversation.
- **Coverage judge**: a logistic regression over :data:`chatbot.understanding.coverage.FEATURES`
  of the gold set's in-scope questions, the patient questions (lay, misspelled, noisy) and
  their opposites, the near-topic unanswerable questions and the gold set's out-of-scope
  ones. Every group (an unanswerable category, an in-scope kind) is predicted by a model fit
  without it, and the threshold is chosen on those held-out predictions: the most refusals
  of unanswerable questions for which the gold set's in-scope questions are wrongly refused
  at most :data:`MAX_WRONGLY_REFUSED`, less twice the rate of wrongly refused patient
  questions.

The hold-out set (``eval/coverage_holdout.jsonl``) is measured, never fit on. Writes
``chatbot/understanding/data/understanding.json`` unless ``--out`` names another file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.understanding.conversation import conversation_data

MAX_WRONGLY_REFUSED = 0.03
PATIENT_COST = 2.0
C_INTENT = 10.0
C_COVERAGE = 1.0
DEFAULT_OUT = Path(__file__).parent / "data" / "understanding.json"
PATIENT_PATH = Path("eval/patient_questions.jsonl")


@dataclass
class Row:
    question: str
    answerable: bool
    group: str
    source: str  # gold, patient, unanswerable, holdout


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def coverage_rows(settings: Any) -> tuple[list[Row], list[Row]]:
    """The rows to fit on and the hold-out rows."""
    rows = []
    for x in _jsonl(settings.gold_path):
        kind = x["kind"] if x["in_scope"] else "out_of_scope"
        rows.append(Row(x["question"], bool(x["in_scope"]), kind, "gold"))
    for x in _jsonl(PATIENT_PATH):
        if x["kind"] in ("lay", "misspelled", "noisy") and not x.get("history"):
            rows.append(Row(x["question"], True, f"patient_{x['kind']}", "patient"))
    for x in _jsonl(settings.unanswerable_path):
        rows.append(Row(x["question"], False, x["category"], "unanswerable"))
    hold = [
        Row(x["question"], x["expect"] == "answer", x.get("category", "answer"), "holdout")
        for x in _jsonl(settings.coverage_holdout_path)
        if x["expect"] != "conversation"
    ]
    return rows, hold


def coverage_features(bot: Any, rows: Sequence[Row]) -> np.ndarray:
    from chatbot.understanding.coverage import FEATURES, features

    out = []
    for row in rows:
        reading = bot.read(row.question)
        if reading is None:
            out.append([-12.0, 0.0, 0.0, 0.0])
            continue
        hit = reading.hits[0]
        figures, _ = features(
            reading.concepts,
            [s.text for s in reading.draft.sentences],
            hit.rerank_score,
            hit.evidence,
        )
        out.append(figures)
    return np.asarray(out, dtype=np.float64).reshape(-1, len(FEATURES))


def _fit_coverage(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=C_COVERAGE, class_weight="balanced", max_iter=2000)
    model.fit((x - mean) / scale, y)
    return {
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
        "threshold": 0.5,
    }


def _probabilities(weights: dict[str, Any], x: np.ndarray) -> np.ndarray:
    z = ((x - np.asarray(weights["mean"])) / np.asarray(weights["scale"])) @ np.asarray(
        weights["coef"]
    ) + float(weights["intercept"])
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -60, 60))))


def choose_threshold(p: np.ndarray, rows: Sequence[Row]) -> float:
    """See the module docstring: held-out probabilities ``p`` of ``rows``."""
    y = np.array([r.answerable for r in rows])
    gold = np.array([r.source == "gold" for r in rows]) & y
    patient = np.array([r.source == "patient" for r in rows])
    best, best_merit = 0.5, -np.inf
    for t in np.round(np.arange(0.05, 0.951, 0.01), 2):
        refused = p < t
        if gold.any() and refused[gold].mean() > MAX_WRONGLY_REFUSED:
            continue
        merit = refused[~y].mean() - PATIENT_COST * (
            refused[patient].mean() if patient.any() else 0
        )
        if merit > best_merit:
            best, best_merit = float(t), merit
    return best


def _rates(p: np.ndarray, rows: Sequence[Row], threshold: float) -> dict[str, dict[str, float]]:
    """Per group: the share refused (unanswerable groups) or answered (in-scope ones)."""
    by: dict[str, list[bool]] = defaultdict(list)
    for pi, row in zip(p, rows, strict=True):
        by[row.group].append(bool(pi < threshold) if not row.answerable else bool(pi >= threshold))
    return {g: {"n": len(v), "rate": round(float(np.mean(v)), 3)} for g, v in sorted(by.items())}


def fit_coverage(bot: Any, settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    rows, hold = coverage_rows(settings)
    x, xh = coverage_features(bot, rows), coverage_features(bot, hold)
    y = np.array([r.answerable for r in rows])
    groups = sorted({r.group for r in rows})
    held = np.zeros(len(rows))
    for g in groups:
        test = np.array([r.group == g for r in rows])
        held[test] = _probabilities(_fit_coverage(x[~test], y[~test]), x[test])
    threshold = choose_threshold(held, rows)
    weights = _fit_coverage(x, y)
    weights["threshold"] = threshold
    fitted = _probabilities(weights, x)

    def summary(p: np.ndarray, rs: Sequence[Row]) -> dict[str, float]:
        yy = np.array([r.answerable for r in rs])
        src = np.array([r.source for r in rs])
        refused = p < threshold
        out = {"unanswerable_refused": round(float(refused[~yy].mean()), 3)}
        for name in ("gold", "patient", "holdout"):
            mask = yy & (src == name)
            if mask.any():
                out[f"{name}_wrongly_refused"] = round(float(refused[mask].mean()), 3)
        return out

    report = {
        "threshold": threshold,
        "held_out": summary(held, rows),
        "in_sample": summary(fitted, rows),
        "holdout_set": summary(_probabilities(weights, xh), hold) if hold else {},
        "held_out_by_group": _rates(held, rows, threshold),
        "holdout_by_group": _rates(_probabilities(weights, xh), hold, threshold) if hold else {},
    }
    return weights, report


def fit_intents(
    embedder: Any, model: str, more_questions: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the intent reader; ``more_questions`` join the question class (any topic)."""
    from sklearn.linear_model import LogisticRegression

    data = conversation_data()
    texts, labels = [], []
    for intent, spec in data["intents"].items():
        for example in spec["examples"]:
            texts.append(str(example))
            labels.append(intent)
    for example in [*data["questions"], *data.get("other_questions", []), *more_questions]:
        texts.append(str(example))
        labels.append("question")
    x = np.asarray(embedder.embed_documents(texts), dtype=np.float64)
    y = np.array(labels)

    def fit(mask: np.ndarray) -> Any:
        m = LogisticRegression(C=C_INTENT, max_iter=5000)
        m.fit(x[mask], y[mask])
        return m

    # Leave one intent out: its examples must fall to "question" or stay below the floor
    # for every other intent; questions must never clear it.
    passed: list[float] = []  # the best other-intent probability of a left-out example
    for intent in data["intents"]:
        test = y == intent
        m = fit(~test)
        p = m.predict_proba(x[test])
        classes = list(m.classes_)
        q = classes.index("question")
        for row in p:
            passed.append(1.0 - row[q])  # still read as conversation (of another intent)
    full = fit(np.ones(len(y), dtype=bool))
    classes = list(full.classes_)
    # Questions held out five folds at a time: their probability of being conversation.
    rng = np.random.default_rng(0)
    question_rows = np.flatnonzero(y == "question")
    folds = np.array_split(rng.permutation(question_rows), 5)
    question_best = []
    for fold in folds:
        mask = np.ones(len(y), dtype=bool)
        mask[fold] = False
        m = fit(mask)
        q = list(m.classes_).index("question")
        for row in m.predict_proba(x[fold]):
            question_best.append(1.0 - row[q])
    # A question read as small talk loses its answer (or its honest refusal), so the floor
    # sits above nearly all held-out questions: their 99th percentile.
    floor = float(min(0.9, max(0.4, np.percentile(question_best, 99) + 0.02)))
    weights = {
        "model": model,
        "classes": classes,
        "coef": full.coef_.astype(np.float32).round(5).tolist(),
        "intercept": full.intercept_.astype(np.float32).round(5).tolist(),
        "min_probability": round(floor, 3),
    }
    report = {
        "examples": len(texts),
        "min_probability": round(floor, 3),
        "left_out_intent_still_conversation": round(float(np.mean(np.array(passed) >= floor)), 3),
        "held_out_questions_taken_for_conversation": round(
            float(np.mean(np.array(question_best) >= floor)), 3
        ),
    }
    return weights, report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    import dataclasses

    from chatbot.answering import Chatbot
    from chatbot.config import Settings

    # Features are read with the judge switched off (the one being fit).
    settings = dataclasses.replace(Settings.from_env(), understanding="none")
    bot = Chatbot.from_settings(settings)
    unanswerable = [x["question"] for x in _jsonl(settings.unanswerable_path)]
    intents, intent_report = fit_intents(
        bot.retriever.embedder, settings.embedding_model, unanswerable
    )
    coverage, coverage_report = fit_coverage(bot, settings)
    args.out.write_text(
        json.dumps({"conversation": intents, "coverage": coverage}) + "\n", encoding="utf-8"
    )
    report = {"intents": intent_report, "coverage": coverage_report, "out": str(args.out)}
    print(json.dumps(report, indent=1) if args.json else _markdown(report), file=sys.stdout)
    return 0


def _markdown(report: dict[str, Any]) -> str:
    c = report["coverage"]
    lines = [
        f"Intent reader: {report['intents']}",
        f"Coverage threshold {c['threshold']}",
        f"held out: {c['held_out']}",
        f"in sample: {c['in_sample']}",
        f"hold-out set: {c['holdout_set']}",
        "",
        "| group (held out) | n | refused (unanswerable) or answered (in scope) |",
        "|---|---|---|",
    ]
    for g, r in c["held_out_by_group"].items():
        lines.append(f"| {g} | {r['n']} | {r['rate']:.3f} |")
    lines.append(f"\nWeights written to {report['out']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
