"""The Streamlit app: ``streamlit run ui/app.py`` (``make run`` does it)."""

import streamlit as st

st.set_page_config(
    page_title="Nerve pain: cited answers", page_icon=":material/stethoscope:", layout="centered"
)

pages = [
    st.Page("chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page("search.py", title="Search passages", icon=":material/search:"),
    st.Page("library.py", title="Library", icon=":material/library_books:"),
]
st.navigation(pages).run()
