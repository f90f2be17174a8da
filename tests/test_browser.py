"""End to end in a real headless Chromium: ``streamlit run ui/app.py`` on 127.0.0.1.

Debian's ``chromium`` is driven by Playwright through ``executable_path`` (no browser
download). ``make test`` installs chromium when it is missing and sets
``CHATBOT_REQUIRE_BROWSER=1``, so there a missing browser fails instead of skipping.
Screenshots go to ``results/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.config import Settings
from chatbot.library import reindex
from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.integration

PASSWORD = "browser-test-password"
SCREENSHOTS = REPO / "results" / "screenshots"
# Flags for a root user on a machine without a display or outside network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 120_000
HOSTILE_ARTICLE = """\
---
title: "Tingling notes <img src=x onerror=alert('title')>"
---
# Paresthesia

Paresthesia is a tingling or prickling feeling in the skin <script>alert('body')</script>.
Read more [here](javascript:alert('link')) about how paresthesia differs from numbness.
"""


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CHATBOT_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed; `make browser` installs it")
        pytest.skip("chromium is not installed (make test installs it)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app on a private corpus and index; yields its URL and corpus folder."""
    root = tmp_path_factory.mktemp("browser")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(CORPUS, corpus)
    reindex(Settings(corpus_dir=corpus, index_dir=index))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")},
        "CHATBOT_CORPUS_DIR": str(corpus),
        "CHATBOT_INDEX_DIR": str(index),
        "CHATBOT_ADMIN_PASSWORD": PASSWORD,
        "HF_HUB_OFFLINE": "1",
    }
    log = (root / "streamlit.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(REPO / "ui" / "app.py"),
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # up to 120 s
            if process.poll() is not None:
                pytest.fail(f"streamlit exited: {(root / 'streamlit.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not answer its health check within 120 s")
        yield url, corpus
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser session that records any JavaScript dialog, and a screenshot after."""
    context = browser.new_context(viewport={"width": 1100, "height": 1300})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def ask(page: Any, question: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")


def label(expander: Any) -> str:
    """An expander's title as shown (without its arrow icon)."""
    return str(expander.locator("summary").get_by_test_id("stMarkdownContainer").inner_text())


def assert_nothing_ran(page: Any) -> None:
    assert page.dialogs == []
    assert page.locator("img[onerror]").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator("script", has_text="alert(").count() == 0


def test_chat_answers_the_dupixent_question(server: tuple[str, Path], page: Any) -> None:
    url, _ = server
    page.goto(url)
    ask(page, "Can Dupixent cause nerve pain?")
    sources = page.get_by_test_id("stExpander")
    sources.first.wait_for()
    assert label(sources.first).startswith("[1] Is Dupixent Linked to Nerve Pain?")
    sources.first.click()
    passage = page.get_by_test_id("stExpanderDetails").first
    passage.wait_for()
    assert passage.locator("strong").count() == 1  # the quoted sentence, highlighted
    answer = page.get_by_test_id("stChatMessage").nth(1).inner_text()
    assert "Dupixent" in answer and "[1]" in answer
    disclaimer = "This is educational information from the cited articles, not medical advice."
    expect(page.get_by_text(disclaimer)).to_have_count(2)  # at the top and under the answer
    page.wait_for_timeout(300)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-dupixent.png"))  # README's picture
    assert_nothing_ran(page)


def test_chat_emergency_shows_the_banner(server: tuple[str, Path], page: Any) -> None:
    url, _ = server
    page.goto(url)
    ask(page, "I have crushing chest pain and my left arm is numb")
    banners = page.get_by_test_id("stAlertContentError")
    banners.nth(1).wait_for()  # above the conversation, and as the answer itself
    top, answer = (b.get_by_test_id("stMarkdownContainer").inner_text() for b in banners.all())
    assert top.startswith("Get help now. This may be a medical emergency. Call your local")
    assert answer.startswith("Get help now\n\nThis may be a medical emergency.")
    top_box = banners.first.bounding_box()
    question_box = page.get_by_test_id("stChatMessage").first.bounding_box()
    assert top_box["y"] < question_box["y"]
    assert page.get_by_test_id("stExpander").count() == 0


def test_chat_shows_hostile_questions_as_text(server: tuple[str, Path], page: Any) -> None:
    url, _ = server
    page.goto(url)
    hostile = "<img src=x onerror=alert(1)> [x](javascript:alert(2)) <script>alert(3)</script>"
    ask(page, hostile)
    page.get_by_text(hostile).wait_for()
    page.get_by_test_id("stChatMessage").nth(1).wait_for()
    page.wait_for_timeout(500)
    assert_nothing_ran(page)


def test_search_page_ranks_and_filters(server: tuple[str, Path], page: Any) -> None:
    url, _ = server
    page.goto(f"{url}/search")
    page.get_by_label("Search the articles").fill("What are the side effects of IVIG?")
    page.keyboard.press("Enter")
    # The caption under the copy block is drawn last: once it names this query, the hits and
    # the copy block above it belong to this query too.
    page.get_by_text(
        "Answer to “What are the side effects of IVIG?”, from all the articles"
    ).wait_for()
    first = page.locator(".st-key-hit-1").inner_text()
    assert first.startswith("1. IVIG for Neuropathy")
    assert page.locator(".st-key-hit-5").count() == 1 and page.locator(".st-key-hit-6").count() == 0
    code = page.get_by_test_id("stCode").inner_text()
    assert "Sources:\n[1] IVIG for Neuropathy" in code
    assert code.rstrip().endswith("about your own situation.")

    # Filter to the lupus article: every passage and the answer's sources come from it.
    page.get_by_label("Only these articles").click()
    page.get_by_role("option", name="Does Lupus Cause Nerve Pain?").click()
    page.keyboard.press("Escape")
    page.get_by_label("Search the articles").fill("nerve pain treatment")
    page.keyboard.press("Enter")
    # Choosing the filter reruns the page with the previous query first; wait for this one.
    page.get_by_text("Answer to “nerve pain treatment”, from the chosen articles").wait_for()
    for n in range(1, 6):
        assert (
            page.locator(f".st-key-hit-{n}")
            .inner_text()
            .startswith(f"{n}. Does Lupus Cause Nerve Pain?")
        )
    code = page.get_by_test_id("stCode").inner_text()
    assert "[1] Does Lupus Cause Nerve Pain?" in code
    assert "IVIG for Neuropathy" not in code


def test_library_upload_and_reindex(server: tuple[str, Path], page: Any) -> None:
    url, corpus = server
    page.goto(f"{url}/library")
    page.get_by_label("Admin password").fill("wrong")
    page.get_by_role("button", name="Unlock").click()
    page.get_by_text("Wrong password. Nothing was changed.").wait_for()
    page.get_by_label("Admin password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    page.get_by_role("button", name="Re-index now").wait_for()

    good = {
        "name": "Tingling Notes.md",
        "mimeType": "text/markdown",
        "buffer": HOSTILE_ARTICLE.encode(),
    }
    broken = {"name": "broken.md", "mimeType": "text/markdown", "buffer": b"\xff\xfe\x00binary"}
    # An upload is saved whole or not at all (the policy of POST /articles too).
    page.locator('input[type="file"]').set_input_files(files=[good, broken])
    page.get_by_text("broken.md", exact=True).wait_for()  # listed: the upload is done
    page.get_by_role("button", name="Add to the library").click()
    page.get_by_text("broken.md:").wait_for()
    page.get_by_text("Nothing was saved").wait_for()
    assert sorted(p.name for p in corpus.iterdir()) == sorted(p.name for p in CORPUS.iterdir())
    page.get_by_text("broken.md", exact=True).wait_for(state="detached")  # the form is cleared
    page.locator('input[type="file"]').set_input_files(files=[good])
    page.get_by_text("Tingling Notes.md", exact=True).wait_for()
    page.get_by_role("button", name="Add to the library").click()
    page.get_by_text("Saved tingling-notes.md").wait_for()
    assert sorted(p.name for p in corpus.iterdir()) == sorted(
        [*(p.name for p in CORPUS.iterdir()), "tingling-notes.md"]
    )
    page.get_by_role("button", name="Re-index now").click()
    page.get_by_text("added: tingling-notes").wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "library-reindexed.png"), full_page=True)

    page.goto(url)
    ask(page, "What is paresthesia?")
    source = page.get_by_test_id("stExpander").first
    source.wait_for()
    assert label(source).startswith("[1] Tingling notes <img src=x onerror=alert('title')>")
    source.click()
    page.get_by_text("<script>alert('body')</script>", exact=False).first.wait_for()
    page.wait_for_timeout(500)
    assert_nothing_ran(page)


def test_a_refused_question_rated_down_shows_in_the_gaps(
    server: tuple[str, Path], page: Any
) -> None:
    url, _ = server
    question = "What are the opening hours of the pharmacy?"
    comment = "Please list the pharmacy's opening hours"
    page.goto(url)
    ask(page, question)
    thumbs_down = page.get_by_role("radio", name="Thumbs down")
    thumbs_down.wait_for()  # drawn under the answer
    assert "do not" in page.get_by_test_id("stChatMessage").nth(1).inner_text()
    thumbs_down.click()
    expect(thumbs_down).to_have_attribute("aria-checked", "true")
    page.get_by_label("What could be better? (optional)").fill(comment)
    page.get_by_role("button", name="Send comment").click()
    page.get_by_text("Thank you for your feedback.").wait_for()

    page.goto(f"{url}/library")
    page.get_by_label("Admin password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    section = page.locator(".st-key-gaps")
    gap = section.locator('[class*="st-key-gap-"]').filter(has_text=f"“{question}”")
    gap.wait_for()
    assert gap.inner_text().startswith(f"1× “{question}”")
    down = section.locator('[class*="st-key-down-"]').filter(has_text=f"“{question}”")
    down.wait_for()
    assert f"Comment: {comment}" in down.inner_text()
    expect(section.get_by_role("button", name="Download as CSV")).to_have_count(1)
    assert_nothing_ran(page)
