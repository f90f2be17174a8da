"""Property-based requests from the OpenAPI schema (schemathesis): no input gets a 5xx.

A real uvicorn server on the real models answers every operation the schema describes, with
the admin token so that the admin endpoints (library changes, the gaps report) parse their
input too; ``POST /feedback`` with a generated ``answer_id`` gets its listed 404. Requests are
generated deterministically (the same cases every run): boundary cases from the schema, then
a bounded number of valid and invalid ones per operation. Every response must be a 2xx or
4xx that the schema lists, with a body of the listed shape.

The schema is the app's own document, built when this module is imported (schemathesis'
fixture-based lazy loader does not run on pytest 9); the first test checks that the server
serves exactly that document at ``/openapi.json``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from chatbot import api, library
from chatbot.config import Settings
from tests.api_server import AUTH, TOKEN, serving
from tests.conftest import CORPUS

MAX_EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPENAPI = api.create_app(Settings(admin_token=TOKEN)).openapi()
CONFIG = schemathesis.Config.from_dict(
    {"generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"}}
)
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server on the real models over an index of a copy of the corpus."""
    root = tmp_path_factory.mktemp("schema")
    shutil.copytree(CORPUS, root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", admin_token=TOKEN)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        library.reindex(settings)
        with serving(api.create_app(settings)) as url:
            yield url


@pytest.mark.integration
def test_the_server_serves_the_schema_under_test(base_url: str) -> None:
    assert httpx.get(f"{base_url}/openapi.json").json() == OPENAPI
    assert len(list(schema.get_all_operations())) == 10


@pytest.mark.integration
@schema.parametrize()
def test_no_input_gets_a_server_error(case: Any, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, headers=AUTH, checks=CHECKS, timeout=120)
