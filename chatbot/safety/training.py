"""Fit the detector on the scenario bank and measure how it does on wording it was not fit on.

The bank (``eval/emergency/bank_*.jsonl`` and ``urgent.jsonl``) holds emergencies by category
and phrasing family, urgent reports, and near-miss non-emergencies by family; the regression set
``eval/triage.jsonl`` joins it as one more family. ``holdout.jsonl`` and ``non_english.jsonl``
are never fit on: they are measured with the shipped weights only.

**Leave one family out**: for each phrasing family, fit on every other family (thresholds
chosen by an inner cross-validation over those families alone), then triage the held-out
family. Every emergency is thus predicted once by a detector that never saw its family, and
the recall and false-alarm figures say how triage does on wording it was not built from.

``python -m chatbot.safety.training`` prints the report; ``--out PATH`` also writes weights
fit on the whole bank (``--out chatbot/safety/data/detector.json`` replaces the bundled ones).
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

from chatbot.safety.detector import LinearDetector, Reading, embed_segments, ngrams
from chatbot.safety.rules import emergency_categories

__all__ = ["Example", "fit_weights", "leave_one_family_out", "load_bank", "measure", "report"]

DEFAULT_MODEL = "BAAI/bge-small-en-v1.5"
BANK_FILES = ("bank_*.jsonl", "urgent.jsonl")
HELD_OUT_FILES = ("holdout.jsonl", "non_english.jsonl")
REGRESSION_FAMILY = "regression"
# Inverse regularisation strength (embeddings are unit vectors, so it is large), chosen by
# leave-one-family-out among 1, 4, 16, 30, 100, 300, 1000 and 10000; and how much a false
# alarm costs against a missed emergency when the threshold is chosen.
C = 30.0
FALSE_ALARM_COST = 0.5
# The word model's regularisation and its share of the emergency verdict (the embedding
# model has the rest), chosen by leave-one-family-out among shares 0, 0.3 and 0.5.
LEXICAL_C = 10.0
LEXICAL_SHARE = 0.5
# The nearness floor: the percentile of the emergencies' similarity to their nearest category
# centroid under which a message counts as out of the detector's reach.
FLOOR_PERCENTILE = 0.5
# Urgent reports count this many times as negatives of the emergency regression, so that
# "new numbness since my last injection" leans to urgent rather than emergency.
URGENT_WEIGHT = 3.0
# The regression set's rows count this many times when fitting: its phrasings are the ones
# the team's tests name one by one.
REGRESSION_WEIGHT = 5.0
SEGMENT_LIMIT = 6


@dataclass(frozen=True)
class Example:
    """One message of the bank: ``tier`` is emergency, urgent or ok."""

    text: str
    tier: str
    category: str
    family: str
    lang: str = "en"

    @property
    def label(self) -> str:
        """The classifier's class: ``ok``, ``urgent`` or the emergency category."""
        return self.category if self.tier == "emergency" else self.tier


def _read(path: Path) -> list[Example]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            rows.append(Example(r["text"], r["tier"], r["category"], r["family"], r["lang"]))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: not a bank row ({exc})") from exc
    return rows


def _regression_rows(path: Path) -> list[Example]:
    """``eval/triage.jsonl`` as bank rows: emergencies with their category, the rest ok."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            emergency = r["label"] in ("emergency", "self_harm")
            tier = "emergency" if emergency else "ok"
            rows.append(Example(r["text"], tier, r.get("category", "none"), REGRESSION_FAMILY))
    return rows


def load_bank(
    folder: Path, triage_path: Path | None = None
) -> tuple[list[Example], dict[str, list[Example]]]:
    """The rows to fit on (bank and regression set) and the held-out sets, by file stem."""
    bank = [e for pattern in BANK_FILES for p in sorted(folder.glob(pattern)) for e in _read(p)]
    if triage_path is not None and triage_path.exists():
        bank += _regression_rows(triage_path)
    held = {p.stem: _read(p) for name in HELD_OUT_FILES if (p := folder / name).exists()}
    return bank, held


def _fit(
    vectors: np.ndarray, labels: Sequence[str], c: float, weight: np.ndarray | None = None
) -> tuple[list[str], Any, Any]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(vectors, list(labels), sample_weight=weight)
    return [str(x) for x in model.classes_], model.coef_, model.intercept_


def _binary(
    vectors: np.ndarray, positive: np.ndarray, c: float, weight: np.ndarray
) -> dict[str, Any]:
    if positive.all() or not positive.any():  # one class only (a small fold): a constant
        return {"coef": np.zeros(vectors.shape[1]), "intercept": 9.0 if positive.all() else -9.0}
    classes, coef, intercept = _fit(vectors, ["yes" if p else "no" for p in positive], c, weight)
    sign = 1.0 if classes[1] == "yes" else -1.0  # scikit-learn scores its second class
    return {"coef": sign * coef[0], "intercept": sign * float(intercept[0])}


def _classifiers(
    examples: Sequence[Example], segs: Sequence[np.ndarray], c: float
) -> dict[str, Any]:
    """The three regressions fit on whole messages (thresholds still to choose)."""
    x = np.stack([s[0] for s in segs])
    tiers = np.array([e.tier for e in examples])
    weight = np.array(
        [REGRESSION_WEIGHT if e.family == REGRESSION_FAMILY else 1.0 for e in examples]
    )
    emergency = _binary(
        x, tiers == "emergency", c, weight * np.where(tiers == "urgent", URGENT_WEIGHT, 1.0)
    )
    rest = tiers != "emergency"
    urgent = _binary(x[rest], tiers[rest] == "urgent", c, weight[rest])
    picked = np.flatnonzero(tiers == "emergency")
    labels = [examples[int(i)].category for i in picked]
    if len(set(labels)) == 1:
        classes, coef, intercept = labels[:1], np.zeros((1, x.shape[1])), np.zeros(1)
    else:
        classes, coef, intercept = _fit(x[picked], labels, c)
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: the second's score
        coef, intercept = np.vstack([-coef[0], coef[0]]), np.array([-intercept[0], intercept[0]])
    return {
        "model": DEFAULT_MODEL,
        "segment_limit": SEGMENT_LIMIT,
        "emergency": {**emergency, "threshold": 0.5},
        "urgent": {**urgent, "threshold": 0.5},
        "categories": {"classes": classes, "coef": coef, "intercept": intercept},
        "centroids": _centroids(x[picked], labels, classes),
        "lexical": _lexical(examples, tiers == "emergency", weight),
    }


def _centroids(vectors: np.ndarray, labels: list[str], classes: list[str]) -> dict[str, Any]:
    """Each category's mean vector, and the similarity to the nearest one that all but
    FLOOR_PERCENTILE percent of the emergencies reach."""
    rows = []
    for c in classes:
        mean = vectors[[i for i, label in enumerate(labels) if label == c]].mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    centroids = np.stack(rows)
    nearest = (vectors @ centroids.T).max(axis=1)
    return {
        "vectors": np.round(centroids, 5).tolist(),
        "floor": round(float(np.percentile(nearest, FLOOR_PERCENTILE)), 4),
    }


def _lexical(
    examples: Sequence[Example], positive: np.ndarray, weight: np.ndarray
) -> dict[str, Any]:
    """The TF-IDF word model: each n-gram seen in at least two messages, with its idf and
    coefficient."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=ngrams, min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform([e.text for e in examples])
    model = LogisticRegression(C=LEXICAL_C, max_iter=5000, class_weight="balanced")
    model.fit(features, positive.astype(int), sample_weight=weight)
    idf, coef = vectorizer.idf_, model.coef_[0]
    return {
        "vocabulary": {
            g: [round(float(idf[j]), 5), round(float(coef[j]), 5)]
            for g, j in sorted(vectorizer.vocabulary_.items())
        },
        "intercept": round(float(model.intercept_[0]), 5),
        "share": LEXICAL_SHARE,
    }


def _choose_thresholds(
    examples: Sequence[Example], segs: Sequence[np.ndarray], c: float
) -> tuple[float, float]:
    """Thresholds from out-of-fold readings, each fold made of whole families.

    Emergency: the threshold with the best recall - FALSE_ALARM_COST x false-alarm rate (rules
    included). Urgent: the best F1 among the messages that are no emergency.
    """
    families = sorted({e.family for e in examples})
    k = min(5, len(families))
    p_e = np.zeros(len(examples))
    p_u = np.zeros(len(examples))
    for fold in (families[i::k] for i in range(k)):
        train = [i for i, e in enumerate(examples) if e.family not in fold]
        detector = LinearDetector(
            _classifiers([examples[i] for i in train], [segs[i] for i in train], c),
            embedder=object(),
        )
        for i, e in enumerate(examples):
            if e.family in fold:
                r = detector.read_vectors(segs[i], e.text)
                p_e[i], p_u[i] = r.emergency, r.urgent
    tiers = np.array([e.tier for e in examples])
    ruled = np.array([bool(emergency_categories(e.text)) for e in examples])
    emerg, ok = tiers == "emergency", tiers == "ok"
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)

    def gain(t: float) -> float:
        caught = (p_e >= t) | ruled
        return float(caught[emerg].mean() - FALSE_ALARM_COST * caught[ok].mean())

    t_e = float(max(grid, key=gain))
    rest = ~emerg & ~ruled & (p_e < t_e)
    truth = tiers[rest] == "urgent"

    def f1(t: float) -> float:
        pred = p_u[rest] >= t
        return 2 * float((pred & truth).sum()) / max(1.0, float(pred.sum() + truth.sum()))

    return t_e, float(max(grid, key=f1))


def fit_weights(
    examples: Sequence[Example], segs: Sequence[np.ndarray], c: float = C
) -> dict[str, Any]:
    """Weights fit on ``examples``, with thresholds chosen by cross-validation over families."""
    t_e, t_u = _choose_thresholds(examples, segs, c)
    weights = _classifiers(examples, segs, c)
    weights["emergency"]["threshold"] = t_e
    weights["urgent"]["threshold"] = t_u
    for part in ("emergency", "urgent", "categories"):
        for key in ("coef", "intercept"):
            weights[part][key] = np.round(np.asarray(weights[part][key], dtype=float), 5).tolist()
    weights["trained"] = {
        "C": c,
        "false_alarm_cost": FALSE_ALARM_COST,
        "regression_weight": REGRESSION_WEIGHT,
        "urgent_weight": URGENT_WEIGHT,
        "examples": len(examples),
        "families": sorted({e.family for e in examples}),
    }
    return weights


def _verdict(example: Example, reading: Reading) -> str:
    if emergency_categories(example.text) or reading.is_emergency:
        return "emergency"
    return "urgent" if reading.is_urgent else "ok"


def leave_one_family_out(
    examples: Sequence[Example], segs: Sequence[np.ndarray], c: float = C
) -> list[str]:
    """Each example's verdict from a detector fit without its family."""
    verdicts = [""] * len(examples)
    for family in sorted({e.family for e in examples}):
        train = [i for i, e in enumerate(examples) if e.family != family]
        weights = fit_weights([examples[i] for i in train], [segs[i] for i in train], c)
        det = LinearDetector(weights, embedder=object())
        for i, e in enumerate(examples):
            if e.family == family:
                verdicts[i] = _verdict(e, det.read_vectors(segs[i], e.text))
    return verdicts


def measure(examples: Sequence[Example], verdicts: Sequence[str]) -> dict[str, Any]:
    """Recall of emergencies, false alarms on the rest, by category and by family."""

    def rates(idx: list[int]) -> dict[str, Any]:
        emerg = [i for i in idx if examples[i].tier == "emergency"]
        urgent = [i for i in idx if examples[i].tier == "urgent"]
        ok = [i for i in idx if examples[i].tier == "ok"]
        out: dict[str, Any] = {"n": len(idx)}
        if emerg:
            out["recall"] = round(sum(verdicts[i] == "emergency" for i in emerg) / len(emerg), 4)
            out["emergencies"] = len(emerg)
        if urgent:
            out["urgent_caught"] = round(sum(verdicts[i] != "ok" for i in urgent) / len(urgent), 4)
            out["urgent_as_emergency"] = round(
                sum(verdicts[i] == "emergency" for i in urgent) / len(urgent), 4
            )
            out["urgent"] = len(urgent)
        if ok:
            out["false_alarms"] = round(sum(verdicts[i] == "emergency" for i in ok) / len(ok), 4)
            out["false_urgent"] = round(sum(verdicts[i] == "urgent" for i in ok) / len(ok), 4)
            out["near_misses"] = len(ok)
        return out

    by_cat: dict[str, list[int]] = defaultdict(list)
    by_fam: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        by_cat[e.category if e.tier != "urgent" else "urgent"].append(i)
        by_fam[e.family].append(i)
    missed = [examples[i].text for i, e in enumerate(examples) if e.tier == "emergency"
              and verdicts[i] != "emergency"]  # fmt: skip
    alarmed = [examples[i].text for i, e in enumerate(examples) if e.tier == "ok"
               and verdicts[i] == "emergency"]  # fmt: skip
    return {
        "overall": rates(list(range(len(examples)))),
        "by_category": {k: rates(v) for k, v in sorted(by_cat.items())},
        "by_family": {k: rates(v) for k, v in sorted(by_fam.items())},
        "missed": missed,
        "false_alarms": alarmed,
    }


def report(folder: Path, triage_path: Path, embedder: Any, c: float = C) -> dict[str, Any]:
    """Leave-one-family-out figures on the bank, and the shipped detector on the held-out sets.

    Returns ``{"lofo": ..., "in_sample": ..., "held_out": {name: ...}, "weights": ...}``.
    """
    bank, held = load_bank(folder, triage_path)
    segs = embed_segments(embedder, [e.text for e in bank], SEGMENT_LIMIT)
    lofo = measure(bank, leave_one_family_out(bank, segs, c))
    weights = fit_weights(bank, segs, c)
    det = LinearDetector(weights, embedder=embedder)
    in_sample = measure(
        bank, [_verdict(e, det.read_vectors(s, e.text)) for e, s in zip(bank, segs, strict=True)]
    )
    held_out = {}
    for name, rows in held.items():
        vecs = embed_segments(embedder, [e.text for e in rows], SEGMENT_LIMIT)
        held_out[name] = measure(
            rows,
            [_verdict(e, det.read_vectors(v, e.text)) for e, v in zip(rows, vecs, strict=True)],
        )
    return {"lofo": lofo, "in_sample": in_sample, "held_out": held_out, "weights": weights}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatbot.safety.training", description=__doc__)
    parser.add_argument("--bank", type=Path, default=Path("eval/emergency"))
    parser.add_argument("--triage", type=Path, default=Path("eval/triage.jsonl"))
    parser.add_argument("--out", type=Path, help="write weights fit on the whole bank here")
    parser.add_argument("--c", type=float, default=C, help=f"regularisation (default {C})")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args(argv)
    from chatbot.embedding import get_embedder

    result = report(args.bank, args.triage, get_embedder(DEFAULT_MODEL), args.c)
    weights = result.pop("weights")
    if args.out:
        args.out.write_text(json.dumps(weights, separators=(",", ":")) + "\n", encoding="utf-8")
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        return 0
    for part in ("lofo", "in_sample"):
        print(part, result[part]["overall"])
    for name in ("by_category", "by_family"):
        print(f"lofo {name}:")
        for k, v in result["lofo"][name].items():
            print(f"  {k:24s} {v}")
    for name, m in result["held_out"].items():
        print("held out", name, m["overall"])
    print("thresholds", weights["emergency"]["threshold"], weights["urgent"]["threshold"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
