"""The HTTP API with PDF and Word articles: uploads, refusals that change nothing, and the
provenance of articles and citations (fake embedder, in process)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from chatbot.config import Settings
from tests.api_server import AUTH
from tests.conftest import snapshot
from tests.documents import (
    CARPAL_PAGES,
    GOUT_BLOCKS,
    docx_bytes,
    pdf_bytes,
)

CARPAL = pdf_bytes(CARPAL_PAGES, title="Carpal Tunnel Syndrome", author="Hand Clinic")
GOUT = docx_bytes(GOUT_BLOCKS, author="Foot Clinic", created=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def settings(api_settings: Settings) -> Settings:
    return api_settings


@pytest.fixture
def client(api_client: TestClient) -> TestClient:
    return api_client


def test_post_articles_accepts_a_pdf_and_a_docx(client: TestClient, settings: Settings) -> None:
    files = [
        ("files", ("Carpal Tunnel.pdf", CARPAL, PDF)),
        ("files", ("gout.docx", GOUT, DOCX)),
    ]
    response = client.post("/articles", files=files, headers=AUTH)
    assert response.status_code == 201, response.text
    saved = response.json()["saved"]
    assert [
        (a["id"], a["source"], a["title"], a["publisher"], a["published"], a["state"])
        for a in saved
    ] == [
        ("carpal-tunnel", "carpal-tunnel.pdf", "Carpal Tunnel Syndrome", "Hand Clinic",
         "2000-01-01", "new"),
        ("gout", "gout.docx", "Gout and the Nerves", "Foot Clinic", "2025-03-01", "new"),
    ]  # fmt: skip
    assert saved[0]["stale"] is True and saved[1]["stale"] is False
    assert (settings.corpus_dir / "carpal-tunnel.pdf").read_bytes() == CARPAL
    assert (settings.corpus_dir / "gout.docx").read_bytes() == GOUT

    report = client.post("/reindex", headers=AUTH).json()
    assert report["added"] == ["carpal-tunnel", "gout"] and report["failed"] == []
    listed = {a["id"]: a for a in client.get("/articles").json()}
    assert listed["carpal-tunnel"]["state"] == listed["gout"]["state"] == "indexed"
    assert (listed["carpal-tunnel"]["published"], listed["carpal-tunnel"]["stale"]) == (
        "2000-01-01",
        True,
    )

    hits = client.get("/search", params={"q": "wrist splint night tingling", "k": 3}).json()
    assert (hits[0]["article_id"], hits[0]["section"]) == ("carpal-tunnel", "Page 3")
    answer = client.post(
        "/ask", json={"question": "Does a wrist splint at night ease carpal tunnel tingling?"}
    ).json()
    cited = answer["citations"][0]
    assert {k: cited[k] for k in ("article_id", "section", "publisher", "published", "stale")} == {
        "article_id": "carpal-tunnel", "section": "Page 3", "publisher": "Hand Clinic",
        "published": "2000-01-01", "stale": True,
    }  # fmt: skip
    assert cited["quote"] == (
        "A wrist splint worn at night keeps the wrist straight and eases the tingling."
    )


def test_a_good_pdf_with_a_bad_docx_saves_neither(client: TestClient, settings: Settings) -> None:
    before = snapshot(settings.corpus_dir.parent)
    files = [
        ("files", ("carpal.pdf", CARPAL, PDF)),
        ("files", ("broken.docx", b"PK\x03\x04not really", DOCX)),
    ]
    response = client.post("/articles", files=files, headers=AUTH)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "files", 1]]
    assert snapshot(settings.corpus_dir.parent) == before


def test_the_schema_names_the_new_formats_and_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for name in ("Citation", "ArticleInfo"):
        assert list(components[name]["properties"])[-4:] == [
            "source_url", "published", "reviewed", "stale",
        ]  # fmt: skip
    upload = schema["paths"]["/articles"]["post"]["requestBody"]["content"]
    body = next(iter(upload.values()))["schema"]["$ref"].rsplit("/", 1)[-1]
    description = components[body]["properties"]["files"]["description"]
    assert description == (
        ".md, .txt, .html, .pdf, .docx files (text types in UTF-8), at most 10; the article id "
        "is made from the file name; every file is saved or none"
    )
