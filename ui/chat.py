"""Chat page (for patients): questions in, cited answers out, follow-ups use the history."""

import streamlit as st

from chatbot import presentation, safety, webui
from chatbot.answering import Answer, Turn
from chatbot.config import MAX_QUESTION_CHARS

service = webui.service()

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
    chat.append((question, answer))
    if answer.status == "emergency":
        st.rerun()  # draw the banner above the conversation too
