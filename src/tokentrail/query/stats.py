"""The seeds' first question: tokens, cost, latency and errors by route."""

from __future__ import annotations

from typing import Any

from tokentrail.query.filters import Filters
from tokentrail.storage.backend import Store

LLM_KINDS = "kind IN ('llm', 'embedding')"


def by_route(store: Store, f: Filters) -> list[dict[str, Any]]:
    """Per route: requests, tokens per request, cost, p50/p99 latency, error and 429 rates."""
    where, params = f.where()
    return store.query(f"""
        SELECT route,
               count() AS requests,
               sum(input_tokens) AS tokens_in,
               sum(output_tokens) AS tokens_out,
               round(avg(input_tokens + output_tokens), 1) AS tokens_per_request,
               round(sum(total_cost), 6) AS cost_usd,
               countIf(total_cost IS NULL AND status = 'ok') AS unpriced,
               round(quantile(0.5)(duration_ms), 1) AS p50_ms,
               round(quantile(0.99)(duration_ms), 1) AS p99_ms,
               round(countIf(status = 'error') / count(), 4) AS error_rate,
               round(countIf(http_status = 429) / count(), 4) AS rate_limited_rate
        FROM {store.database}.spans FINAL
        WHERE {where} AND {LLM_KINDS}
        GROUP BY route
        ORDER BY cost_usd DESC, requests DESC""", params)


def totals(store: Store, f: Filters) -> dict[str, Any]:
    where, params = f.where()
    rows = store.query(f"""
        SELECT count() AS requests, uniq(trace_id) AS traces,
               sum(input_tokens) AS tokens_in, sum(output_tokens) AS tokens_out,
               round(sum(total_cost), 6) AS cost_usd,
               round(countIf(status = 'error') / greatest(count(), 1), 4) AS error_rate
        FROM {store.database}.spans FINAL
        WHERE {where} AND {LLM_KINDS}""", params)
    return rows[0] if rows else {}


def unpriced_models(store: Store, f: Filters) -> list[dict[str, Any]]:
    """Models of successful LLM calls with no price: listed, never silently zero."""
    where, params = f.where()
    # aggregates are named apart from columns: a provider filter in WHERE must read the column
    return store.query(f"""
        SELECT model, any_provider AS provider, calls, tokens_in, tokens_out FROM (
            SELECT if(response_model != '', response_model, request_model) AS model,
                   any(provider) AS any_provider, count() AS calls,
                   sum(input_tokens) AS tokens_in, sum(output_tokens) AS tokens_out
            FROM {store.database}.spans FINAL
            WHERE {where} AND {LLM_KINDS} AND total_cost IS NULL AND status = 'ok'
            GROUP BY model)
        ORDER BY calls DESC""", params)
