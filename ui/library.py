"""Library page (for developers): the indexed articles, uploads, deletes and re-indexing,
and the gaps: what to write next.

Changing anything, and the gaps, need ``CHATBOT_ADMIN_PASSWORD``; without it the page only
lists.
"""

import hmac

import streamlit as st

from chatbot import gaps, webui
from chatbot.library import (
    MAX_UPLOAD_FILES,
    UPLOAD_SUFFIXES,
    LibraryError,
    UploadRefusedError,
    delete_article,
    list_articles,
)
from chatbot.presentation import escape_markdown
from chatbot.provenance import STALE_NOTE

service = webui.service()
settings = service.settings

st.title("Library")


def article_table() -> None:
    articles = list_articles(settings)
    st.dataframe(
        [
            {
                "title": a.title,
                "id": a.id,
                "state": a.state,
                "chunks": a.chunks,
                "sha256": a.sha256[:12],
                "indexed": a.indexed_at,
                "published": a.published,
                "reviewed": a.reviewed,
                "freshness": STALE_NOTE if a.stale else "",
                "problem": a.error,
            }
            for a in articles
        ],
        hide_index=True,
        width="stretch",
    )
    waiting = [a for a in articles if a.state != "indexed"]
    if waiting:
        st.warning(
            escape_markdown(
                f"{len(waiting)} change(s) wait for a re-index: "
                + ", ".join(f"{a.id} ({a.state})" for a in waiting)
            ),
            icon=":material/pending:",
        )
    stale = [a for a in articles if a.stale]
    if stale:
        st.caption(
            ":material/history: "
            + escape_markdown(
                f"{len(stale)} article(s) {STALE_NOTE} (reviewed, else published, more than "
                f"{settings.stale_after_days} days ago): " + ", ".join(a.id for a in stale)
            )
        )
    st.caption(escape_markdown(f"Index version {service.version}, in {settings.index_dir}"))


if not settings.admin_password:
    st.info(
        "The library is read-only. To add, replace or delete articles here, start the app "
        "with an admin password: `CHATBOT_ADMIN_PASSWORD=... make run`.",
        icon=":material/lock:",
    )
    article_table()
    st.stop()

st.session_state.setdefault("admin", False)
if not st.session_state.admin:
    with st.form("login"):
        password = st.text_input("Admin password", type="password")
        entered = st.form_submit_button("Unlock")
    if entered:
        if hmac.compare_digest(password.encode(), settings.admin_password.encode()):
            st.session_state.admin = True
            st.rerun()
        st.error("Wrong password. Nothing was changed.")
    article_table()
    st.stop()

article_table()

st.subheader("Add or replace articles")
with st.form("upload", clear_on_submit=True):
    files = st.file_uploader(
        f"Markdown, text, HTML, PDF or Word (.docx) files, at most {MAX_UPLOAD_FILES}; a file "
        "whose name matches an article replaces it",
        type=[s.lstrip(".") for s in UPLOAD_SUFFIXES],
        accept_multiple_files=True,
    )
    upload = st.form_submit_button("Add to the library")
if upload and files:
    # One policy with POST /articles: every file is checked first, and all are saved or none.
    try:
        saved = service.save_articles([(file.name, file.getvalue()) for file in files])
    except UploadRefusedError as exc:
        for _, problem in exc.problems:
            st.error(escape_markdown(problem), icon=":material/error:")
        st.error("Nothing was saved: fix or leave out the files above and upload again.")
    else:
        for info in saved:
            st.success(
                escape_markdown(f"Saved {info.source} (“{info.title}”).")
                + " Re-index to make it searchable."
            )

st.subheader("Delete an article")
ids = [a.id for a in list_articles(settings) if a.state != "deleted"]
with st.form("delete"):
    target = st.selectbox("Article", ids, index=None, placeholder="Choose an article")
    sure = st.checkbox("Yes, delete its file from the corpus")
    delete = st.form_submit_button("Delete")
if delete:
    if target is None or not sure:
        st.error("Choose an article and tick the box to delete it.")
    else:
        try:
            removed = delete_article(settings, target)
        except LibraryError as exc:
            st.error(escape_markdown(str(exc)))
        else:
            st.success(
                escape_markdown(f"Deleted {', '.join(removed)}.")
                + " Re-index to drop it from answers."
            )

st.subheader("Re-index")
if st.button("Re-index now", type="primary", icon=":material/sync:"):
    bar = st.progress(0.0, text="Starting…")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"{stage}: {done} of {total}")

    try:
        report = service.reindex(progress=progress)
    except Exception as exc:  # shown to the user; the write is atomic, the live index stands
        bar.empty()
        st.error("Re-index failed, the live index is unchanged: " + escape_markdown(str(exc)))
    else:
        bar.progress(1.0, text="Done")
        lines = report.summary().splitlines()
        st.success("  \n".join(escape_markdown(line) for line in lines))
        for failure in report.failed:
            st.error(escape_markdown(f"{failure['path']}: {failure['error']}"))

st.subheader("Gaps: what to write next", anchor="gaps")
with st.container(key="gaps"):
    if service.questions is None:
        st.info(
            "The question log is off (CHATBOT_QUESTION_LOG=off): there are no questions to report.",
            icon=":material/info:",
        )
    else:
        retention = settings.question_log_retention_days
        days = st.number_input(
            "Questions of the last … days", min_value=1, max_value=retention, value=retention
        )
        report = service.gaps(int(days))
        st.caption(
            escape_markdown(
                f"{report.refused} question(s) refused as not covered, in {len(report.gaps)} "
                "group(s) of the same meaning, biggest first."
            )
        )
        for n, gap in enumerate(report.gaps, start=1):
            with st.container(border=True, key=f"gap-{n}"):
                st.markdown(f"**{gap.count}×** " + escape_markdown(f"“{gap.example}”"))
                also = [q for q in gap.queries if q != gap.example]
                about = [f"last asked {gap.last_asked}"]
                if also:
                    about.append("searched as: " + "; ".join(also))
                st.caption(escape_markdown(" · ".join(about)))
        st.markdown(f"**Answers rated down ({len(report.rated_down)})**")
        for n, down in enumerate(report.rated_down, start=1):
            with st.container(border=True, key=f"down-{n}"):
                st.markdown(escape_markdown(f"“{down.question}”"))
                st.caption(escape_markdown(f"{down.status} · rated {down.rated_at}"))
                if down.comment:
                    st.markdown("Comment: " + escape_markdown(down.comment))
        st.download_button(
            "Download as CSV",
            data=gaps.to_csv(report),
            file_name="gaps.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
