"""The command line of ``python -m chatbot.evaluation``: cross-validate the rerank fusion
weight on the gold set."""

from __future__ import annotations

import json
from collections.abc import Sequence

from chatbot.config import Settings
from chatbot.evaluation.crossval import cross_validate, fusion_weight_runner
from chatbot.evaluation.metrics import load_gold
from chatbot.evaluation.reports import cross_validation_markdown
from chatbot.retrieval import Retriever


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chatbot.evaluation``: cross-validate the rerank fusion weight on the gold
    set (the index, gold set and models that the ``CHATBOT_*`` settings name)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--values", default="0,4,8,12,16,20,24,28,32,40", help="weights to try")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split into folds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    values = sorted(float(v) for v in args.values.split(",") if v.strip())
    settings = Settings.from_env()
    retriever = Retriever.from_settings(settings)
    report = cross_validate(
        "rerank_fusion_weight",
        values,
        load_gold(settings.gold_path),
        fusion_weight_runner(retriever),
        folds=args.folds,
        seed=args.seed,
    )
    print(json.dumps(report.as_json()) if args.json else cross_validation_markdown(report))
    return 0
