"""The same schema and SQL on a real ClickHouse server (set TOKENTRAIL_TEST_CLICKHOUSE_URL,
e.g. http://default:@localhost:8123/tokentrail_test); skipped otherwise."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tokentrail.demo.traffic import Traffic
from tokentrail.ingest import wire
from tokentrail.ingest.normalize import INSERT_SETTINGS, insert_sql
from tokentrail.pricing import PriceBook
from tokentrail.pricing.store import recompute_costs, sync_prices
from tokentrail.query import stats
from tokentrail.query.filters import Filters
from tokentrail.storage.backend import open_store
from tokentrail.storage.migrations import migrate

URL = os.environ.get("TOKENTRAIL_TEST_CLICKHOUSE_URL")
pytestmark = pytest.mark.skipif(not URL, reason="TOKENTRAIL_TEST_CLICKHOUSE_URL is not set")


def test_schema_ingest_and_queries_on_a_server(tmp_path: Path) -> None:
    store = open_store(URL or "")
    try:
        migrate(store, {"spans": 30})
        book = PriceBook(None)
        sync_prices(store, book)
        segment = tmp_path / "seg-000000000001.pb"
        project = f"srv-{datetime.now(UTC):%H%M%S%f}"
        with open(segment, "wb") as f:
            for body in Traffic(seed=5).requests(300, per_request=100):
                f.write(wire.frame(wire.envelope(body, project, "otlp", 0)))
        sql = insert_sql(store.database, book.version).replace("{batch_version}", "now64(3)")
        for _ in range(2):  # loading the same segment twice must not double count
            store.insert_select_protobuf(sql, [segment], wire.STRUCTURE, wire.SCHEMA, wire.MESSAGE, INSERT_SETTINGS)
        f = Filters(project=project, since=datetime.now(UTC) - timedelta(hours=2))
        rows = stats.by_route(store, f)
        assert rows and sum(r["requests"] for r in rows) > 0
        total = stats.totals(store, f)
        n = store.query(f"SELECT count() AS n FROM {store.database}.spans FINAL WHERE project = {{p:String}}",
                        {"p": project})[0]["n"]
        traffic = Traffic(seed=5)
        for _ in traffic.requests(300, per_request=100):
            pass
        assert n == traffic.spans_made
        result = recompute_costs(store, book, project, f.since, datetime.now(UTC) + timedelta(minutes=1))
        assert result["calls"] == total["requests"]
    finally:
        store.close()


def test_the_server_ingests_and_answers_on_a_clickhouse_server(tmp_path: Path) -> None:
    """The whole path (OTLP -> spool -> insert -> rollups -> API) with the store on a server."""
    from tests.support import running_server

    project = f"srv-{datetime.now(UTC):%H%M%S%f}"
    with running_server(tmp_path / "data", storage_url=URL) as server:
        for body in Traffic(seed=8).requests(200, per_request=100, span_seconds=600):
            r = server.client.post("/v1/traces", content=body, headers={
                "content-type": "application/x-protobuf", "x-tokentrail-project": project})
            assert r.status_code == 200, r.text
        server.flush()
        summary = server.client.get("/api/metrics/summary", params={"project": project, "range": "1h"}).json()
        assert summary["requests"] > 0 and summary["cost_usd"] > 0
        traces = server.client.get("/api/traces", params={"project": project, "range": "1h"}).json()["traces"]
        detail = server.client.get(f"/api/traces/{traces[0]['trace_id']}", params={"project": project}).json()
        assert len(detail["spans"]) == traces[0]["spans"]
