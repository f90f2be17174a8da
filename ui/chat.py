"""Chat page (for patients): questions in, cited answers out, follow-ups use the history.

Every answer has a thumbs up and down (stored against its ``answer_id`` in the question log,
a second rating replacing the first) and, once rated, a box for an optional comment.
"""

import streamlit as st

from chatbot import presentation, safety, webui
from chatbot.answering import Answer, Turn
from chatbot.config import MAX_QUESTION_CHARS
from chatbot.questionlog import MAX_COMMENT_CHARS, UnknownAnswerError

# st.feedback("thumbs") gives 0 for thumbs down and 1 for thumbs up.
RATINGS = ("down", "up")

service = webui.service()


def rate(answer_id: str, comment: str | None = None) -> None:
    """Store the rating the thumbs of ``answer_id`` hold, with ``comment`` or the comment
    sent before (a new rating replaces the stored one)."""
    value = st.session_state.get(f"rating-{answer_id}")
    if value is None:
        return
    if comment is None:
        comment = st.session_state.get(f"comment-{answer_id}", "")
    try:
        service.feedback(answer_id, RATINGS[value], comment)
    except UnknownAnswerError:
        st.session_state[f"unrated-{answer_id}"] = True
    else:
        st.session_state[f"comment-{answer_id}"] = comment


def feedback(answer: Answer) -> None:
    """Thumbs up and down under an answer and, once rated, an optional comment."""
    if service.questions is None or not answer.answer_id:
        return  # the question log is off: nothing to store a rating against
    key = answer.answer_id
    rating = st.feedback("thumbs", key=f"rating-{key}", on_change=rate, args=(key,))
    if st.session_state.get(f"unrated-{key}"):
        st.caption("This answer can no longer be rated.")
        return
    if rating is None:
        return
    if st.session_state.get(f"comment-{key}"):
        st.caption("Thank you for your feedback.")
        return
    with st.form(f"comment-form-{key}", border=False):
        comment = st.text_input(
            "What could be better? (optional)", max_chars=MAX_COMMENT_CHARS, key=f"text-{key}"
        )
        sent = st.form_submit_button("Send comment")
    if sent and comment.strip():
        rate(key, comment.strip())
        st.rerun()
    st.caption("Thank you for the rating.")


st.title("Ask about nerve pain")
st.info(safety.DISCLAIMER, icon=":material/info:")

if "chat" not in st.session_state:
    st.session_state.chat = []
chat: list[tuple[str, Answer]] = st.session_state.chat

with st.sidebar:
    if st.button("New conversation", icon=":material/refresh:", width="stretch"):
        st.session_state.chat = []
        st.rerun()
    st.caption("Answers quote these articles, and only them:")
    titles = [r.title for r in service.chatbot.retriever.index.articles.values()]
    st.markdown(presentation.topics(titles))

if chat and chat[-1][1].tier == "emergency":
    st.error(
        f"**{webui.EMERGENCY_TITLE}.** " + presentation.escape_markdown(chat[-1][1].alert),
        icon=":material/emergency:",
    )
if not chat:
    st.caption("For example: *Can Dupixent cause nerve pain?* or *Is IVIG safe?*")

for question, answer in chat:
    with st.chat_message("user"):
        st.markdown(presentation.escape_markdown(question))
    with st.chat_message("assistant"):
        webui.render_answer(answer, service)
        feedback(answer)

question = st.chat_input("Ask a question about the articles", max_chars=MAX_QUESTION_CHARS)
if question:
    history = [
        turn
        for q, a in chat
        for turn in (
            Turn("user", q),
            Turn("assistant", a.answer, presentation.cited_articles(a)),
        )
    ]
    with st.chat_message("user"):
        st.markdown(presentation.escape_markdown(question))
    with st.chat_message("assistant"):
        with st.spinner("Reading the articles…"):
            answer = service.ask(question, history)
        webui.render_answer(answer, service)
        feedback(answer)
    chat.append((question, answer))
    if answer.status == "emergency":
        st.rerun()  # draw the banner above the conversation too
