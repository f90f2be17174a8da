"""Search page (for support staff): ranked passages, a filter by article, a cited answer to copy."""

import streamlit as st

from chatbot import presentation, webui
from chatbot.config import MAX_QUESTION_CHARS
from chatbot.retrieval import MODES

service = webui.service()
articles = service.chatbot.retriever.index.articles

st.title("Search passages")
query = st.text_input(
    "Search the articles", max_chars=MAX_QUESTION_CHARS, placeholder="e.g. side effects of IVIG"
)
left, right = st.columns([3, 1])
chosen = left.multiselect(
    "Only these articles",
    options=sorted(articles, key=lambda a: articles[a].title),
    format_func=lambda a: articles[a].title,
    placeholder="All articles",
)
k = right.number_input("Passages", min_value=1, max_value=20, value=service.settings.search_k)
with st.expander("Ranking stage"):
    mode = st.radio(
        "Last stage",
        MODES,
        index=MODES.index(service.default_mode),
        horizontal=True,
        help="rerank (the default with a reranker) runs the whole pipeline; the others stop "
        "earlier.",
    )

if query.strip():
    hits = service.search(query, k=int(k), mode=mode, articles=chosen or None)
    st.subheader(f"{len(hits)} passages")
    if not hits:
        st.caption("Nothing matched. Try other words, or fewer article filters.")
    for hit in hits:
        with st.container(border=True, key=f"hit-{hit.rank}"):
            where = hit.title + (f" › {hit.section}" if hit.section else "")
            st.markdown(f"**{hit.rank}. {presentation.escape_markdown(where)}**")
            st.caption(
                presentation.escape_markdown(
                    f"score {hit.score:.3f} · evidence {hit.evidence:.2f} · {hit.article_id} · "
                    f"characters {hit.start}–{hit.end}"
                )
            )
            st.markdown(presentation.escape_markdown(hit.text))
    st.subheader("Cited answer to copy")
    # Staff searches are not patients' questions: left out of the question log.
    answer = service.ask(query, articles=chosen or None, log=False)
    st.code(presentation.plain_text(answer), language=None, wrap_lines=True)
    # Drawn last, so a page that shows it for this query shows everything above for it too.
    st.caption(
        presentation.escape_markdown(
            f"Answer to “{query.strip()}”, "
            + ("from the chosen articles" if chosen else "from all the articles")
            + "; the copy button is at the block's top right."
        )
    )
