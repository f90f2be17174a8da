"""Write the evaluation's results: Markdown sections for ``report.md`` and the charts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chatbot.evaluation.answers import AnswerReport
from chatbot.evaluation.crossval import CrossValidation
from chatbot.evaluation.metrics import VariantReport
from chatbot.evaluation.patient import PatientReport
from chatbot.evaluation.understanding import UnderstandingReport


def report_markdown(reports: Sequence[VariantReport], meta: dict[str, Any]) -> str:
    lines = [
        "# Retrieval evaluation",
        "",
        f"Gold set: `{meta['gold']}` ({meta['in_scope']} in-scope, "
        f"{meta['out_of_scope']} out-of-scope questions). Index: {meta['chunks']} chunks, "
        f"embedding model `{meta['embedding_model']}`, reranker `{meta['reranker_model']}`.",
        f"Run at {meta['run_at']} on {meta['cpus']} CPU cores "
        f"(load average {meta.get('load_average', 'unknown')} when it finished).",
        "",
        "| variant | hit@1 | hit@3 | hit@5 | MRR@5 | nDCG@10 | in/out-of-scope accuracy "
        "(threshold) | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.name} | {r.hit_at[1]:.3f} | {r.hit_at[3]:.3f} | {r.hit_at[5]:.3f} | "
            f"{r.mrr_at_5:.3f} | {r.ndcg_at_10:.3f} | {r.separation_accuracy:.3f} "
            f"({r.separation_threshold:.3f}) | {r.latency_p50_ms:.1f} | {r.latency_p95_ms:.1f} |"
        )
    lines += ["", "## hit@1 by question kind", ""]
    kinds = sorted({k for r in reports for k in r.by_kind})
    lines.append("| variant | " + " | ".join(kinds) + " |")
    lines.append("|---|" + "---|" * len(kinds))
    for r in reports:
        lines.append(
            f"| {r.name} | " + " | ".join(f"{r.by_kind.get(k, 0):.2f}" for k in kinds) + " |"
        )
    lines += ["", "## Questions without a relevant passage in the top 5", ""]
    for r in reports:
        lines.append(f"- {r.name}: {', '.join(r.misses) or 'none'}")
    fits = {tuple(sorted(r.calibration.items())): r.name for r in reports if r.calibration}
    if fits:
        lines += ["", "## Evidence calibration", ""]
        lines += [
            "Logistic fit of in-scope against the top hit's score (settings for "
            "`chatbot/config.py`):",
            "",
        ]
        for fit in fits:
            lines.append("- " + ", ".join(f"`{k}={v:.4f}`" for k, v in fit))
    return "\n".join(lines) + "\n"


def save_chart(reports: Sequence[VariantReport], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics: list[tuple[str, Callable[[VariantReport], float]]] = [
        ("hit@1", lambda r: r.hit_at[1]),
        ("hit@5", lambda r: r.hit_at[5]),
        ("MRR@5", lambda r: r.mrr_at_5),
        ("nDCG@10", lambda r: r.ndcg_at_10),
        ("scope acc.", lambda r: r.separation_accuracy),
    ]
    fig, (ax, lat) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(reports)
    for i, r in enumerate(reports):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [f(r) for _, f in metrics], width, label=r.name)
        lat.bar(i, r.latency_p50_ms, label=r.name)
    ax.set_xticks([j + width * (len(reports) - 1) / 2 for j in range(len(metrics))])
    ax.set_xticklabels([m for m, _ in metrics])
    ax.set_ylim(0, 1.05)
    ax.set_title("Retrieval quality on the gold set")
    ax.legend(fontsize=8, loc="lower right")
    lat.set_xticks(range(len(reports)))
    lat.set_xticklabels([r.name for r in reports], rotation=45, ha="right", fontsize=8)
    lat.set_title("Latency p50 (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cross_validation_markdown(report: CrossValidation) -> str:
    held = report.held_out
    lines = [
        f"## Cross-validated `{report.setting}`",
        "",
        f"{report.folds}-fold cross-validation over the in-scope questions (split seed "
        f"{report.seed}); values chosen on the training folds: "
        + ", ".join(f"{v:g}" for v in report.chosen)
        + ".",
        "",
        f"Held out: hit@1 {held['hit@1']:.3f}, hit@5 {held['hit@5']:.3f}, "
        f"MRR@5 {held['mrr@5']:.3f}.",
        "",
        "| value | hit@1 | hit@5 | MRR@5 |",
        "|---|---|---|---|",
    ]
    for value, figures in report.in_sample.items():
        lines.append(
            f"| {value:g} | {figures['hit@1']:.3f} | {figures['hit@5']:.3f} | "
            f"{figures['mrr@5']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def answer_markdown(report: AnswerReport) -> str:
    return "\n".join(
        [
            "## Answers",
            "",
            "| gold article cited | key fact in answer | key fact in first sentence "
            "| refusal precision | refusal recall "
            "| in-scope wrongly refused | verbatim quotes | ask p50 ms | ask p95 ms |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {report.gold_cited:.3f} | {report.key_fact_in_answer:.3f} | "
            f"{report.key_fact_in_lead:.3f} | "
            f"{report.refusal_precision:.3f} | {report.refusal_recall:.3f} | "
            f"{report.wrongly_refused:.3f} | {report.verbatim:.3f} | {report.latency_p50_ms:.1f} "
            f"| {report.latency_p95_ms:.1f} |",
            "",
            "Misses: " + (", ".join(report.failures) or "none"),
            "",
        ]
    )


def understanding_markdown(report: UnderstandingReport) -> str:
    lines = [
        "## Knowing what the articles do not answer, and conversation",
        "",
        "| measure | fitted sets | hold-out (never fit) |",
        "|---|---|---|",
        f"| near-topic unanswerable refused | {report.unanswerable_refused:.3f} "
        f"| {report.holdout_unanswerable_refused:.3f} |",
        f"| refusals naming what is missing | {report.refusals_naming_what_is_missing:.3f} | |",
        f"| answerable wrongly refused | (see Answers) | {report.holdout_wrongly_refused:.3f} |",
        f"| conversational messages handled | {report.conversation_handled:.3f} "
        f"| {report.holdout_conversation_handled:.3f} |",
        "",
        "| unanswerable category | refused |",
        "|---|---|",
        *(f"| {k} | {v:.3f} |" for k, v in report.refused_by_category.items()),
        *(f"| hold-out: {k} | {v:.3f} |" for k, v in report.holdout_refused_by_category.items()),
        "",
        "| conversational kind | handled |",
        "|---|---|",
        *(f"| {k} | {v:.3f} |" for k, v in report.conversation_by_kind.items()),
        "",
        "Misses: " + (", ".join(report.misses) or "none"),
        "",
    ]
    return "\n".join(lines)


def triage_markdown(figures: dict[str, float]) -> str:
    keys = [k for k in figures if k != "phrasings"]
    return "\n".join(
        [
            "## Safety triage",
            "",
            f"{int(figures['phrasings'])} phrasings from `eval/triage.jsonl`.",
            "",
            "| " + " | ".join(k.replace("_", " ") for k in keys) + " |",
            "|" + "---|" * len(keys),
            "| " + " | ".join(f"{figures[k]:.3f}" for k in keys) + " |",
            "",
        ]
    )


def _rates_row(name: str, r: dict[str, Any]) -> str:
    def cell(key: str) -> str:
        return f"{r[key]:.3f}" if key in r else "–"

    keys = ("recall", "false_alarms", "urgent_caught", "urgent_as_emergency", "false_urgent")
    return f"| {name} | {r['n']} | " + " | ".join(cell(k) for k in keys) + " |"


def triage_bank_markdown(result: dict[str, Any]) -> str:
    """The bank figures as Markdown: overall, per category and per family."""
    head = [
        "| set | messages | emergency recall | false alarms | urgent caught "
        "| urgent as emergency | false urgent |",
        "|---|---|---|---|---|---|---|",
    ]
    lines = [
        "## Triage on the scenario bank",
        "",
        "Leave one family out: the detector is fit on every phrasing family but one and "
        "triages that one, so each figure is on wording it was not fit on. Thresholds "
        f"(emergency {result['thresholds']['emergency']}, urgent "
        f"{result['thresholds']['urgent']}) are chosen by an inner cross-validation.",
        "",
        *head,
        _rates_row("leave one family out", result["lofo"]["overall"]),
        _rates_row("in sample", result["in_sample"]["overall"]),
        *(_rates_row(f"held out: {k}", v["overall"]) for k, v in result["held_out"].items()),
        "",
        "### Leave one family out, per category",
        "",
        *head,
        *(_rates_row(k, v) for k, v in result["lofo"]["by_category"].items()),
        "",
        "### Leave one family out, per family",
        "",
        *head,
        *(_rates_row(k, v) for k, v in result["lofo"]["by_family"].items()),
        "",
    ]
    return "\n".join(lines)


def patient_markdown(report: PatientReport, expansion: str = "") -> str:
    """The per-kind table, ours beside the baseline, and the lay-expansion variants."""
    lines = [
        "## Patient language: retrieval per kind",
        "",
        "The chatbot ranks what it reads for the message (noise removed, spelling corrected, "
        "follow-ups resolved, other languages glossed); the textbook baseline ranks the raw "
        "message (with the previous question before a follow-up).",
        "",
        "| kind | questions | hit@1 | hit@5 | MRR@5 | baseline hit@1 | baseline hit@5 "
        "| baseline MRR@5 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    kinds = [*report.by_kind.items(), ("all", report.overall)]
    for kind, ours in kinds:
        base = report.baseline_by_kind.get(kind, report.baseline_overall if kind == "all" else {})
        n = ours.get("n", 0)
        cells = [f"{ours[m]:.3f}" for m in ("hit@1", "hit@5", "mrr@5")]
        cells += [f"{base[m]:.3f}" if m in base else "–" for m in ("hit@1", "hit@5", "mrr@5")]
        lines.append(f"| {kind} | {n:.0f} | " + " | ".join(cells) + " |")
    if report.languages:
        lines += ["", *(f"- {k}: {v:.3f}" for k, v in report.languages.items())]
    if report.expansion:
        lines += [
            "",
            f"Lay terms added to the queries (`CHATBOT_LAY_EXPANSION`, now `{expansion}`):",
            "",
            "| lay_expansion | hit@1 | hit@5 | MRR@5 |",
            "|---|---|---|---|",
            *(
                f"| {name} | {f['hit@1']:.3f} | {f['hit@5']:.3f} | {f['mrr@5']:.3f} |"
                for name, f in report.expansion.items()
            ),
        ]
    if report.misses:
        lines += ["", "Not first (rank, or - when not in the top 10): " + ", ".join(report.misses)]
    return "\n".join(lines) + "\n"


def save_patient_chart(report: PatientReport, path: Path) -> None:
    """Bars of hit@1, hit@5 and MRR@5 per kind, the chatbot beside the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [*report.by_kind, "all"]
    metrics = ("hit@1", "hit@5", "mrr@5")
    fig, axes = plt.subplots(1, len(metrics), figsize=(14, 4.2), sharey=True)
    for ax, metric in zip(axes, metrics, strict=True):
        ours = [(report.by_kind.get(k) or report.overall)[metric] for k in kinds]
        xs = range(len(kinds))
        ax.bar([x - 0.2 for x in xs], ours, 0.4, label="chatbot")
        if report.baseline_by_kind:
            base = [(report.baseline_by_kind.get(k) or report.baseline_overall)[metric]
                    for k in kinds]  # fmt: skip
            ax.bar([x + 0.2 for x in xs], base, 0.4, label="textbook baseline")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(kinds, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric)
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Patient questions: retrieval per kind")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
