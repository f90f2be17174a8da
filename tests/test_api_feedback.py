"""``POST /feedback`` and ``GET /gaps`` / ``GET /gaps.csv`` over the real app and library on
the fake embedder (in process), with their auth and their 4xx."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatbot import api, gaps, library
from chatbot.config import Settings
from chatbot.library import Service
from chatbot.questionlog import QuestionLog
from tests.api_server import AUTH
from tests.conftest import FakeEmbedder, fake_settings

UNCOVERED = "Is ozempic good for weight loss?"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


@pytest.fixture
def settings(api_settings: Settings) -> Settings:
    return api_settings


@pytest.fixture
def client(api_client: TestClient) -> TestClient:
    return api_client


def ask(client: TestClient, question: str) -> dict[str, Any]:
    response = client.post("/ask", json={"question": question})
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


# ----------------------------------------------------------------------- /feedback


def test_feedback_is_stored_against_the_logged_answer(
    client: TestClient, settings: Settings
) -> None:
    answer = ask(client, UNCOVERED)
    assert re.fullmatch(r"[0-9a-f]{32}", answer["answer_id"])
    body = {"answer_id": answer["answer_id"], "rating": "down", "comment": "call 555-123-4567"}
    response = client.post("/feedback", json=body)
    assert response.status_code == 200
    stored = response.json()
    assert list(stored) == ["answer_id", "rating", "comment", "rated_at"]
    assert (stored["answer_id"], stored["rating"], stored["comment"]) == (
        answer["answer_id"],
        "down",
        "call [phone]",
    )
    assert ISO_UTC.fullmatch(stored["rated_at"])
    log = QuestionLog(settings.question_log_file)
    assert log.feedback(answer["answer_id"]) is not None
    # A second rating replaces the first; the comment may be left out.
    again = client.post("/feedback", json={"answer_id": answer["answer_id"], "rating": "up"})
    assert again.status_code == 200
    assert (again.json()["rating"], again.json()["comment"]) == ("up", "")
    (rated,) = log.rated()
    assert (rated.question.answer_id, rated.feedback.rating) == (answer["answer_id"], "up")


def test_feedback_on_an_unknown_answer_is_404(client: TestClient) -> None:
    ask(client, UNCOVERED)
    response = client.post("/feedback", json={"answer_id": "0" * 32, "rating": "up"})
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"no logged answer {'0' * 32!r}; rate an answer by the answer_id POST /ask "
        "gave it, within 90 days (CHATBOT_QUESTION_LOG_RETENTION_DAYS)",
        "errors": [],
    }


def test_feedback_with_the_log_off_is_404(tmp_path: Path, fake: FakeEmbedder) -> None:
    settings = fake_settings(tmp_path, question_log="off")
    library.reindex(settings)
    with TestClient(api.create_app(settings)) as client:
        answer = ask(client, UNCOVERED)
        response = client.post("/feedback", json={"answer_id": answer["answer_id"], "rating": "up"})
    assert response.status_code == 404
    assert response.json()["detail"].startswith(
        f"no logged answer {answer['answer_id']!r}: the question log is off (CHATBOT_QUESTION_LOG)"
    )
    assert not settings.question_log_file.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"answer_id": "a" * 32, "rating": "meh"}, "body.rating: Input should be 'up' or 'down'"),
        ({"answer_id": "a" * 32, "rating": 1}, "body.rating: Input should be 'up' or 'down'"),
        ({"answer_id": "a" * 32}, "body.rating: Field required"),
        ({"rating": "up"}, "body.answer_id: Field required"),
        (
            {"answer_id": "not-an-id", "rating": "up"},
            "body.answer_id: String should match pattern '^[0-9a-f]{32}$'",
        ),
        (
            {"answer_id": "a" * 32, "rating": "up", "comment": "x" * 2001},
            "body.comment: String should have at most 2000 characters",
        ),
        (
            {"answer_id": "a" * 32, "rating": "up", "user": "jo"},
            "body.user: Extra inputs are not permitted",
        ),
        ([], "body: Input should be a valid dictionary or object to extract fields from"),
    ],
)
def test_bad_feedback_is_422_with_a_problem_body(
    client: TestClient, body: Any, detail: str
) -> None:
    response = client.post("/feedback", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == detail
    assert response.json()["errors"][0]["msg"]


# ---------------------------------------------------------------------------- /gaps


@pytest.mark.parametrize("path", ["/gaps", "/gaps.csv"])
@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "no admin token"),
        ({"Authorization": "Bearer wrong"}, "a wrong admin token"),
        ({"Authorization": "Basic x"}, "no admin token"),
    ],
)
def test_gaps_need_the_admin_token(
    client: TestClient, path: str, headers: dict[str, str], detail: str
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == (
        f"{detail}: send 'Authorization: Bearer <CHATBOT_ADMIN_TOKEN>'"
    )


def test_gaps_are_403_without_a_token_set(tmp_path: Path, fake: FakeEmbedder) -> None:
    settings = fake_settings(tmp_path, admin_token="")
    library.reindex(settings)
    with TestClient(api.create_app(settings)) as client:
        for path in ("/gaps", "/gaps.csv"):
            for headers in ({}, AUTH):
                response = client.get(path, headers=headers)
                assert response.status_code == 403
                assert response.json()["detail"] == api.ADMIN_DISABLED


def test_gaps_group_the_refused_questions_and_list_the_answers_rated_down(
    client: TestClient, settings: Settings
) -> None:
    assert client.get("/gaps", headers=AUTH).json() == {
        "since": "",
        "threshold": settings.gaps_threshold,
        "refused": 0,
        "gaps": [],
        "rated_down": [],
    }
    asked = [
        ask(client, q)
        for q in (
            UNCOVERED,
            "ozempic for weight loss",
            "What are the opening hours of the pharmacy?",
            UNCOVERED,
            "Can Dupixent cause nerve pain?",  # answered: not a gap
        )
    ]
    assert [a["status"] for a in asked] == ["no_answer"] * 4 + ["answered"]
    down = {"answer_id": asked[4]["answer_id"], "rating": "down", "comment": "too long"}
    assert client.post("/feedback", json=down).status_code == 200
    response = client.get("/gaps", headers=AUTH)
    assert response.status_code == 200
    report = response.json()
    assert report["refused"] == 4
    assert [(g["count"], g["example"], g["queries"]) for g in report["gaps"]] == [
        (3, UNCOVERED, [UNCOVERED, "ozempic for weight loss"]),
        (
            1,
            "What are the opening hours of the pharmacy?",
            ["What are the opening hours of the pharmacy?"],
        ),
    ]
    logged = {q.answer_id: q for q in QuestionLog(settings.question_log_file).questions()}
    assert report["gaps"][0]["last_asked"] == logged[asked[3]["answer_id"]].asked_at
    assert report["gaps"][0]["evidence"] == max(asked[i]["evidence"] for i in (0, 1, 3))
    assert [
        (r["answer_id"], r["question"], r["status"], r["comment"]) for r in report["rated_down"]
    ] == [(asked[4]["answer_id"], "Can Dupixent cause nerve pain?", "answered", "too long")]
    assert report == Service(settings).gaps().as_json()
    recent = client.get("/gaps", params={"since": 1}, headers=AUTH).json()
    assert (recent["refused"], len(recent["gaps"]), len(recent["rated_down"])) == (4, 2, 1)
    assert ISO_UTC.fullmatch(recent["since"])


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("since=0", "query.since: Input should be greater than or equal to 1"),
        ("since=3651", "query.since: Input should be less than or equal to 3650"),
        (
            "since=soon",
            "query.since: Input should be a valid integer, unable to parse string as an integer",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/gaps", "/gaps.csv"])
def test_gaps_refuse_a_bad_window(client: TestClient, path: str, query: str, detail: str) -> None:
    response = client.get(f"{path}?{query}", headers=AUTH)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == detail


def test_gaps_csv_is_the_report_with_formulas_neutralised(
    client: TestClient, settings: Settings
) -> None:
    formula = '=HYPERLINK("http://evil") ozempic weight loss?'
    first = ask(client, formula)
    assert first["status"] == "no_answer"
    rate = {"answer_id": first["answer_id"], "rating": "down", "comment": "+1 useless"}
    assert client.post("/feedback", json=rate).status_code == 200
    response = client.get("/gaps.csv", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="gaps.csv"'
    assert response.text == gaps.to_csv(Service(settings).gaps())
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(gaps.CSV_COLUMNS)
    assert [(r[0], r[2], r[4]) for r in rows[1:]] == [
        ("gap", f"'{formula}", ""),
        ("rated_down", f"'{formula}", "'+1 useless"),
    ]


def test_the_schema_describes_feedback_and_gaps(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    feedback = schema["paths"]["/feedback"]["post"]
    assert sorted(feedback["responses"]) == ["200", "400", "404", "413", "422"]
    assert "security" not in feedback
    request = schema["components"]["schemas"]["FeedbackRequest"]
    assert request["additionalProperties"] is False
    assert request["properties"]["rating"]["enum"] == ["up", "down"]
    assert request["properties"]["comment"]["maxLength"] == api.MAX_COMMENT_CHARS == 2000
    for path in ("/gaps", "/gaps.csv"):
        operation = schema["paths"][path]["get"]
        assert operation["security"] == [{"HTTPBearer": []}]
        assert sorted(operation["responses"]) == ["200", "401", "403", "422"]
        for code in ("401", "403", "422"):
            assert operation["responses"][code]["content"] == {
                "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
    assert list(schema["paths"]["/gaps.csv"]["get"]["responses"]["200"]["content"]) == ["text/csv"]
