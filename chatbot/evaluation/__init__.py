"""Measure the chatbot on the evaluation sets in ``eval/``: ``chatbot eval`` and
``python -m chatbot.evaluation``.

A retrieved chunk is relevant to a question when its article is one of the question's gold
articles and its text contains at least one of the question's key phrases.

The package has one module per job:

- :mod:`chatbot.evaluation.metrics`: the gold set, relevance, and the ranking metrics,
  evidence separation, calibration and latency of one system on it;
- :mod:`chatbot.evaluation.pipeline`: the project's pipeline, stopped after a stage, as a
  system under test;
- :mod:`chatbot.evaluation.baseline`: the textbook LangChain pipeline it is compared with;
- :mod:`chatbot.evaluation.crossval`: cross-validation of a setting's value
  (``rerank_fusion_weight``);
- :mod:`chatbot.evaluation.answers`, :mod:`~chatbot.evaluation.understanding`,
  :mod:`~chatbot.evaluation.patient` and :mod:`~chatbot.evaluation.triage`: the answers,
  refusals and conversation, patients' language, and safety triage;
- :mod:`chatbot.evaluation.reports`: the Markdown report and the charts;
- :mod:`chatbot.evaluation.run`: the whole run (:func:`run_evaluation`, behind
  ``chatbot eval``) and the cross-validation's command line (:func:`main`).
"""

from chatbot.evaluation.answers import AnswerReport, evaluate_answers
from chatbot.evaluation.baseline import LangChainBaseline
from chatbot.evaluation.crossval import CrossValidation, cross_validate, fusion_weight_runner
from chatbot.evaluation.metrics import (
    CUTOFFS,
    GoldQuestion,
    Retrieved,
    VariantReport,
    best_threshold,
    evaluate,
    first_relevant,
    fit_logistic,
    is_relevant,
    load_gold,
)
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
from chatbot.evaluation.run import EvalOptions, EvalRun, ProgressBar, main, run_evaluation
from chatbot.evaluation.triage import evaluate_triage, evaluate_triage_bank
from chatbot.evaluation.understanding import (
    UnderstandingReport,
    conversation_handled,
    evaluate_understanding,
)
from chatbot.retrieval import MODES

__all__ = [
    "CUTOFFS",
    "MODES",
    "AnswerReport",
    "CrossValidation",
    "EvalOptions",
    "EvalRun",
    "GoldQuestion",
    "LangChainBaseline",
    "PatientReport",
    "ProgressBar",
    "Retrieved",
    "UnderstandingReport",
    "VariantReport",
    "answer_markdown",
    "best_threshold",
    "conversation_handled",
    "cross_validate",
    "cross_validation_markdown",
    "evaluate",
    "evaluate_answers",
    "evaluate_patient",
    "evaluate_triage",
    "evaluate_triage_bank",
    "evaluate_understanding",
    "first_relevant",
    "fit_logistic",
    "fusion_weight_runner",
    "is_relevant",
    "load_gold",
    "load_patient_questions",
    "main",
    "patient_markdown",
    "pipeline_relevant_total",
    "pipeline_runner",
    "raw_scores",
    "report_markdown",
    "run_evaluation",
    "save_chart",
    "save_patient_chart",
    "triage_bank_markdown",
    "triage_markdown",
    "understanding_markdown",
]
