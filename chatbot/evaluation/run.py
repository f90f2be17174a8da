"""Run the whole evaluation (``chatbot eval``) and the fusion-weight cross-validation
(``python -m chatbot.evaluation``).

:func:`run_evaluation` measures the pipeline's variants and the LangChain baseline on the gold
set, calibrates the evidence, scores the answers, the understanding sets, the patient
questions and the triage, and writes ``report.md``, ``chart.png``, ``patient_chart.png`` and
``metrics.json`` to a new ``eval-<time>`` folder of the results folder. It hands back an
:class:`EvalRun` with the figures and that folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chatbot.config import LAY_EXPANSIONS, Settings
from chatbot.corpus import load_corpus
from chatbot.evaluation.answers import AnswerReport, evaluate_answers
from chatbot.evaluation.baseline import LangChainBaseline
from chatbot.evaluation.crossval import cross_validate, fusion_weight_runner
from chatbot.evaluation.metrics import VariantReport, evaluate, fit_logistic, load_gold
from chatbot.evaluation.patient import PatientReport, evaluate_patient, load_patient_questions
from chatbot.evaluation.pipeline import pipeline_relevant_total, pipeline_runner, raw_scores
from chatbot.evaluation.reports import (
    answer_markdown,
    cross_validation_markdown,
    patient_markdown,
    report_markdown,
    save_chart,
    save_patient_chart,
    triage_bank_markdown,
    triage_markdown,
    understanding_markdown,
)
from chatbot.evaluation.triage import evaluate_triage, evaluate_triage_bank
from chatbot.evaluation.understanding import UnderstandingReport, evaluate_understanding
from chatbot.retrieval import MODES, Retriever


@dataclass(frozen=True)
class EvalOptions:
    """What to run: the pipeline variants (stages of :data:`chatbot.retrieval.MODES`), the
    LangChain baseline, and the answer and understanding metrics."""

    modes: Sequence[str] = MODES
    baseline: bool = True
    answers: bool = True


class ProgressBar(Protocol):
    """What :func:`run_evaluation` reports progress to (a ``tqdm`` bar fits)."""

    def set_description(self, desc: str) -> None: ...

    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def set_description(self, desc: str) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class EvalRun:
    """The figures of one evaluation, and the folder its files were written to."""

    meta: dict[str, Any]
    variants: list[VariantReport]
    answers: AnswerReport | None
    understanding: UnderstandingReport | None
    patient: PatientReport | None
    triage: dict[str, float] | None
    triage_bank: dict[str, Any] | None
    # ``report.md``'s text.
    markdown: str
    out: Path

    @property
    def report_path(self) -> Path:
        return self.out / "report.md"

    @property
    def chart_path(self) -> Path:
        return self.out / "chart.png"

    def as_json(self) -> dict[str, Any]:
        """What ``metrics.json`` holds."""
        return {
            "meta": self.meta,
            "variants": [r.as_json() for r in self.variants],
            "answers": self.answers.as_json() if self.answers else None,
            "understanding": self.understanding.as_json() if self.understanding else None,
            "patient": self.patient.as_json() if self.patient else None,
            "triage": self.triage,
            "triage_bank": self.triage_bank,
            "report": str(self.out),
        }


def run_evaluation(
    settings: Settings,
    options: EvalOptions,
    progress: Callable[[int], ProgressBar] | None = None,
) -> EvalRun:
    """Run the evaluation that ``settings`` and ``options`` describe and write its files.

    Builds the index first when there is none. Without a reranker the ``rerank`` variant is
    left out; without ``settings.patient_questions_path``, ``triage_path`` or
    ``triage_bank_dir`` the part that reads it.

    Args:
        settings: the gold set, index, corpus, models, evaluation sets and results folder.
        options: the variants and parts to run.
        progress: called once with the number of steps to come; what it returns is told of
            each step.

    Raises:
        ValueError: for an unknown mode, or a baseline without LangChain installed.
    """
    modes = list(options.modes)
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise ValueError(f"unknown mode(s) {', '.join(unknown)}; use {', '.join(MODES)}")
    questions = load_gold(settings.gold_path)
    from chatbot.library import ensure_index

    ensure_index(settings)
    retriever = Retriever.from_settings(settings)
    if retriever.reranker is None:
        modes = [m for m in modes if m != "rerank"]
    total_relevant = pipeline_relevant_total(retriever)
    reports = []
    extra = 0
    if options.answers:
        for path in (
            settings.unanswerable_path,
            settings.conversation_path,
            settings.coverage_holdout_path,
        ):
            extra += len(path.read_text("utf-8").splitlines()) if path.exists() else 0
    total = len(questions) * (len(modes) + options.baseline + options.answers) + extra
    bar: ProgressBar = _Silent() if progress is None else progress(total)
    for mode in modes:
        bar.set_description(mode)
        reports.append(
            evaluate(
                mode,
                questions,
                pipeline_runner(retriever, mode),
                relevant_total=total_relevant,
                progress=bar.update,
            )
        )
    labels = [q.in_scope for q in questions]
    scores = raw_scores(retriever, questions)
    for report in reports:
        key = "rerank" if report.name == "rerank" else "dense"
        scale, shift = fit_logistic(scores[key], labels)
        report.calibration = {f"evidence_{key}_scale": scale, f"evidence_{key}_shift": shift}
    baseline = None
    if options.baseline:
        bar.set_description("langchain")
        corpus = load_corpus(settings.corpus_dir, max_bytes=settings.max_file_bytes)
        try:
            baseline = LangChainBaseline(corpus.articles, retriever.embedder)
        except ImportError as exc:
            raise ValueError(
                f"the LangChain baseline needs the dev extra ({exc}); "
                "run `pip install -e '.[dev]'` or pass --no-baseline"
            ) from exc
        reports.append(
            evaluate(
                "langchain baseline",
                questions,
                baseline.run,
                relevant_total=baseline.relevant_total,
                progress=bar.update,
            )
        )
    answers = None
    understanding = None
    if options.answers:
        from chatbot.answering import Chatbot

        bar.set_description("answers")
        texts = {
            a.id: a.text
            for a in load_corpus(settings.corpus_dir, max_bytes=settings.max_file_bytes).articles
        }
        bot = Chatbot(retriever, settings=settings)
        answers = evaluate_answers(bot.ask, questions, texts, bar.update)
        bar.set_description("understanding")
        understanding = evaluate_understanding(
            bot.ask,
            settings.unanswerable_path,
            settings.conversation_path,
            settings.coverage_holdout_path,
            bar.update,
        )
    patient = None
    if settings.patient_questions_path.exists():
        from chatbot.answering import Chatbot
        from chatbot.understanding import detect

        bar.set_description("patient language")
        rows = load_patient_questions(settings.patient_questions_path)
        baseline_run = None if baseline is None else baseline.run
        patient = evaluate_patient(
            _ranker(Chatbot(retriever, settings=settings)), rows, baseline_run, detect
        )
        for variant in LAY_EXPANSIONS:
            bot_v = Chatbot(
                Retriever(
                    retriever.index,
                    retriever.embedder,
                    retriever.reranker,
                    settings.with_overrides(lay_expansion=variant),
                ),
                settings=settings,
            )
            patient.expansion[variant] = evaluate_patient(_ranker(bot_v), rows).overall
    bar.close()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    meta = {
        "gold": str(settings.gold_path),
        "in_scope": sum(labels),
        "out_of_scope": len(labels) - sum(labels),
        "chunks": len(retriever.index),
        "embedding_model": settings.embedding_model,
        "reranker_model": settings.reranker_model,
        "run_at": stamp,
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
    }
    out = settings.results_dir / f"eval-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown(reports, meta)
    if answers is not None:
        markdown += "\n" + answer_markdown(answers)
    if understanding is not None:
        markdown += "\n" + understanding_markdown(understanding)
    if patient is not None:
        markdown += "\n" + patient_markdown(patient, settings.lay_expansion)
        save_patient_chart(patient, out / "patient_chart.png")
    triage = evaluate_triage(settings.triage_path) if settings.triage_path.exists() else None
    if triage is not None:
        markdown += "\n" + triage_markdown(triage)
    bank = evaluate_triage_bank(settings) if settings.triage_bank_dir.is_dir() else None
    if bank is not None:
        markdown += "\n" + triage_bank_markdown(bank)
    run = EvalRun(meta, reports, answers, understanding, patient, triage, bank, markdown, out)
    run.report_path.write_text(markdown, encoding="utf-8")
    save_chart(reports, run.chart_path)
    (out / "metrics.json").write_text(json.dumps(run.as_json(), indent=1), encoding="utf-8")
    return run


def _ranker(bot: Any) -> Any:
    """``(message, history) -> [(article id, text)]``: what ``bot`` reads for a message."""

    def rank(question: str, history: Sequence[dict[str, str]]) -> list[tuple[str, str]]:
        return [(h.article_id, h.text) for h in bot.rank(question, history)]

    return rank


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
