"""The API as `mvr api` serves it (gunicorn, uvicorn workers): scale, spec conformance, lightness."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mvr.config import Settings
from mvr.web.schemas import MAX_IDEMPOTENCY_KEY_CHARS
from tests.conftest import wait_for

#: What schemathesis counts as rejecting invalid data by default.
REJECTIONS = [400, 401, 403, 404, 405, 406, 409, 415, 422, 428, 429, "5xx"]
CLIENTS = 8
TICKETS = 5_000


@pytest.fixture
def live_api(start_api) -> str:
    return start_api()


async def _submit_many(base: str, client_no: int, count: int) -> list[str]:
    ids = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for n in range(count):
            response = await http.post("/tickets", json={"subject": f"client {client_no} ticket {n}"})
            assert response.status_code == 202, response.text
            ids.append(response.json()["ticket_id"])
    return ids


def test_thousands_of_parallel_submissions_get_distinct_indexed_ids(
    live_api: str, settings: Settings, rclient
) -> None:
    async def run() -> list[list[str]]:
        per_client = TICKETS // CLIENTS
        return await asyncio.gather(*(_submit_many(live_api, c, per_client) for c in range(CLIENTS)))

    ids = [ticket_id for batch in asyncio.run(run()) for ticket_id in batch]

    assert len(ids) == TICKETS
    assert len(set(ids)) == TICKETS
    assert rclient.zcard(f"{settings.key_prefix}pending") == TICKETS
    indexed = set(rclient.zrange(f"{settings.key_prefix}pending", 0, -1))  # what /queue lists
    assert indexed == set(ids)
    assert rclient.llen(f"{settings.broker_namespace}:triage") == TICKETS


@pytest.fixture
def api_schema(live_api: str) -> schemathesis.BaseSchema:
    # 413 (a body over the request limit, e.g. 20,000 four-byte characters) is a rejection too.
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [*REJECTIONS, 413]}}}
    )
    return schemathesis.openapi.from_url(f"{live_api}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_spec_and_never_answers_5xx(case: schemathesis.Case) -> None:
    # A key reused with another body is a documented 422 (as the IETF Idempotency-Key draft
    # advises; test_api checks it). Unique keys keep "valid data is accepted" meaningful here.
    if case.headers and "Idempotency-Key" in case.headers:
        key = case.headers["Idempotency-Key"]
        case.headers["Idempotency-Key"] = f"{key[: MAX_IDEMPOTENCY_KEY_CHARS - 37]}-{uuid.uuid4()}"
    case.call_and_validate()


def test_api_process_imports_no_ml_code(settings: Settings) -> None:
    code = (
        "import sys\n"
        "from mvr.config import Settings\n"
        "from mvr.web.app import create_app\n"
        f"create_app(Settings.from_env({{'REDIS_URL': {settings.redis_url!r}}}))\n"
        "print(','.join(m for m in ('onnxruntime', 'numpy', 'tokenizers') if m in sys.modules))\n"
    )

    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == ""


def test_access_log_switch_logs_one_line_per_request(start_api, processes) -> None:
    base = start_api(MVR_ACCESS_LOG="1")

    httpx.get(f"{base}/queue?limit=3")

    wait_for(lambda: '"GET /queue?limit=3 HTTP/1.1" 200' in processes.log("api"), timeout_s=10)


def test_without_the_switch_there_is_no_access_log(start_api, processes) -> None:
    base = start_api()

    httpx.get(f"{base}/queue?limit=4")

    assert httpx.get(f"{base}/health").status_code == 200
    assert "GET /queue?limit=4" not in processes.log("api")
