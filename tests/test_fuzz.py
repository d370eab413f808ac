"""Fuzz the REST API from its own OpenAPI schema with schemathesis, against a real server on 127.0.0.1.

Every operation gets a bounded, deterministic set of generated requests, valid and invalid ones (admin routes with the
key, so they are exercised past the auth check). Each response must not be a 5xx and must match what the schema
documents: status code, content type, body and headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from articlechat.api import create_app
from articlechat.config import Settings
from articlechat.embeddings import EmbeddingBackend
from conftest import ChromaServer
from test_api import API_KEY
from test_hostile import admin_server

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzzed_url(tmp_path_factory: pytest.TempPathFactory, bundled_data_dir: Path, embedding_backend: EmbeddingBackend,
               chroma: ChromaServer | None) -> Iterator[str]:
    """A server over a copy of the bundled article: admin key set, rate limits off."""
    with admin_server(tmp_path_factory.mktemp("fuzz"), bundled_data_dir, embedding_backend, chroma) as url:
        yield url


# The schema is built at import (schemathesis' fixture-based loader breaks on pytest 9.2's node ids); the first test
# checks that the server publishes exactly this one.
OPENAPI = create_app(Settings(_env_file=None)).openapi()
# Rules the schema cannot express, checked by the server with a 422 that says which: the last chat message is the
# user's question; an upload is a non-empty UTF-8 .txt, .md or .html file; a report's `since` is a calendar date.
BEYOND_THE_SCHEMA = {"include-name": ["POST /v1/chat/completions", "POST /api/documents", "GET /api/report"],
                     "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "422"]}}}
# Every multipart field is text on the wire: a "wrong type" (source: 312) reaches the server as a valid string.
UNTYPED_FORM = {"include-name": "POST /api/documents", "checks": {"negative_data_rejection": {"enabled": False}}}
# Its query is optional filters only: FastAPI ignores a query parameter it does not know (`?=` is no error), as every
# route does; the negative check then counts an unknown one as "schema-violating data accepted".
OPTIONAL_QUERY = {"include-name": "GET /api/report", "checks": {"negative_data_rejection": {"enabled": False}}}
schema = schemathesis.openapi.from_dict(OPENAPI, config=schemathesis.Config.from_dict(
    {"operations": [BEYOND_THE_SCHEMA, UNTYPED_FORM, OPTIONAL_QUERY]}))


def test_the_server_publishes_the_schema_that_is_fuzzed(fuzzed_url: str) -> None:
    assert httpx.get(f"{fuzzed_url}/openapi.json").json() == OPENAPI


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_response_is_documented_and_none_is_a_server_error(fuzzed_url: str, case: Case) -> None:
    case.call_and_validate(base_url=fuzzed_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
