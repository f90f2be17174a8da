"""Pieces of the Streamlit app (``ui/``): the shared service and how answers are drawn.

Nothing here passes ``unsafe_allow_html``: article and user text goes through
:func:`chatbot.presentation.escape_markdown` before Streamlit renders it.
"""

from __future__ import annotations

import streamlit as st

from chatbot import presentation
from chatbot.answering import Answer
from chatbot.config import Settings
from chatbot.index import IndexUnusableError
from chatbot.library import Service, ensure_index

EMERGENCY_TITLE = "Get help now"
URGENT_TITLE = "Contact your doctor today"
STALE_ICON = ":material/history:"


@st.cache_resource(show_spinner="Loading the models and the index…")
def _service(settings: Settings) -> Service:
    ensure_index(settings)  # first start: build the default index from the corpus
    service = Service(settings)
    _ = service.chatbot  # load the models before the first question
    return service


def service() -> Service:
    """The process-wide service for the settings in the environment (loaded once).

    An index that cannot be used (built with another model, damaged) stops the page with
    the reason and the command that repairs it.
    """
    try:
        return _service(Settings.from_env())
    except IndexUnusableError as exc:
        st.error(
            presentation.escape_markdown(f"The index cannot be used: {exc}")
            + "\n\nRebuild it with `chatbot index --rebuild`, then reload this page.",
            icon=":material/error:",
        )
        st.stop()


def render_answer(answer: Answer, service: Service) -> None:
    """Draw one answer: the emergency or urgent alert first, then the text, its sources and
    the disclaimer."""
    if answer.tier == "emergency":
        st.error(
            f"**{EMERGENCY_TITLE}**\n\n" + presentation.escape_markdown(answer.alert),
            icon=":material/emergency:",
        )
    elif answer.tier == "urgent":
        st.warning(
            f"**{URGENT_TITLE}**\n\n" + presentation.escape_markdown(answer.alert),
            icon=":material/priority_high:",
        )
    if answer.corrected_query:
        st.caption(
            "Showing results for: *" + presentation.escape_markdown(answer.corrected_query) + "*"
        )
    body = presentation.markdown_lines(answer.body)
    if body and answer.status == "no_answer":
        st.warning(body, icon=":material/search_off:")
    elif body:
        st.markdown(body)
    if answer.uncovered:
        st.caption(
            presentation.escape_markdown(
                "Not covered by the articles: " + ", ".join(answer.uncovered)
            )
        )
    if answer.citations:
        chunks = service.chatbot.retriever.index.chunks
        st.caption("Sources")
        for group in presentation.source_groups(answer.citations):
            citation = group[0]
            label = presentation.escape_markdown(presentation.source_label(citation))
            with st.expander(label):
                about = [citation.publisher] if citation.publisher else []
                if presentation.freshness(citation):
                    about.append(presentation.freshness(citation))
                spans = ", ".join(f"{c.start}–{c.end}" for c in group)
                about.append(f"{citation.article_id}, characters {spans}")
                st.caption(presentation.escape_markdown(" · ".join(about)))
                if citation.stale:
                    days = service.settings.stale_after_days
                    st.caption(
                        f"{STALE_ICON} "
                        + presentation.escape_markdown(presentation.stale_warning(citation, days))
                    )
                link = presentation.source_link(citation)
                if link:
                    st.caption("Source: " + link)
                passage = presentation.passage_of(chunks, citation)
                if passage is None:
                    for c in group:
                        st.markdown(f"**{presentation.escape_markdown(c.quote)}**")
                else:
                    st.markdown(presentation.highlighted_passage(passage, group))
        stale = presentation.stale_sources(answer.citations)
        if stale:
            st.caption(f"{STALE_ICON} " + presentation.escape_markdown(stale))
    st.caption(presentation.escape_markdown(answer.disclaimer))
