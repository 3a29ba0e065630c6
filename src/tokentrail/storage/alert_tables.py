"""Alert tables: rules made through the API, the state of every alert, its history, silences,
notification deliveries, and the evaluator lease (so one evaluator acts when several servers share
a store). Newest row of a key wins (ReplacingMergeTree on ``updated_at``)."""

from __future__ import annotations

from tokentrail.storage.schema import Table, _c

ALERT_RULES = Table(
    name="alert_rules",
    columns=(
        _c("name", "String"),
        _c("project", "LowCardinality(String)"),
        _c("spec", "String", "the rule as JSON (alerts/rules.py)"),
        _c("deleted", "Bool"),
        _c("updated_by", "String"),
        _c("updated_at", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(updated_at)",
    order_by="name",
)

ALERT_STATE = Table(
    name="alert_state",
    columns=(
        _c("rule", "String"),
        _c("key", "String", "group of the alert: '' (whole scope) or 'route=checkout' ...; '__group__' holds the "
           "rule's notification state"),
        _c("project", "LowCardinality(String)"),
        _c("state", "LowCardinality(String)", "pending, firing, resolved, inactive"),
        _c("severity", "LowCardinality(String)"),
        _c("labels", "Map(String, String)"),
        _c("value", "Nullable(Float64)"),
        _c("threshold", "Nullable(Float64)"),
        _c("summary", "String"),
        _c("explain", "String", "JSON: metric, window and baseline window for the explainer"),
        _c("since", "DateTime64(3, 'UTC')", "when the condition started to hold"),
        _c("fired_at", "Nullable(DateTime64(3, 'UTC'))"),
        _c("resolved_at", "Nullable(DateTime64(3, 'UTC'))"),
        _c("last_notified", "Nullable(DateTime64(3, 'UTC'))"),
        _c("notified_keys", "Array(String)", "__group__ row: the keys the last notification named"),
        _c("updated_at", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(updated_at)",
    order_by="(rule, key)",
)

ALERT_EVENTS = Table(
    name="alert_events",
    columns=(
        _c("time", "DateTime64(3, 'UTC')"),
        _c("rule", "String"),
        _c("key", "String"),
        _c("project", "LowCardinality(String)"),
        _c("state", "LowCardinality(String)", "pending, firing, resolved, notified, silenced, error"),
        _c("severity", "LowCardinality(String)"),
        _c("labels", "Map(String, String)"),
        _c("value", "Nullable(Float64)"),
        _c("threshold", "Nullable(Float64)"),
        _c("summary", "String"),
        _c("explain", "String"),
    ),
    engine="MergeTree",
    partition_by="toYYYYMM(time)",
    order_by="(project, rule, time)",
    ttl_column="toDateTime(time)",
)

ALERT_SILENCES = Table(
    name="alert_silences",
    columns=(
        _c("id", "String"),
        _c("project", "LowCardinality(String)"),
        _c("rule", "String", "'' = any rule"),
        _c("matchers", "Map(String, String)", "labels that must all match ('' map = any)"),
        _c("comment", "String"),
        _c("created_by", "String"),
        _c("starts_at", "DateTime64(3, 'UTC')"),
        _c("ends_at", "DateTime64(3, 'UTC')"),
        _c("deleted", "Bool"),
        _c("updated_at", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(updated_at)",
    order_by="id",
)

ALERT_DELIVERIES = Table(
    name="alert_deliveries",
    columns=(
        _c("time", "DateTime64(3, 'UTC')"),
        _c("rule", "String"),
        _c("project", "LowCardinality(String)"),
        _c("receiver", "String"),
        _c("status", "LowCardinality(String)", "firing or resolved"),
        _c("ok", "Bool"),
        _c("attempts", "UInt16"),
        _c("error", "String"),
    ),
    engine="MergeTree",
    partition_by="toYYYYMM(time)",
    order_by="(project, time)",
    ttl_column="toDateTime(time)",
)

ALERT_LEASE = Table(
    name="alert_lease",
    columns=(
        _c("term", "UInt64", "lease term number: floor(unix time / term seconds)"),
        _c("holder", "String", "server instance id"),
        _c("claimed_at", "DateTime64(6, 'UTC')"),
    ),
    engine="MergeTree",
    order_by="(term, claimed_at, holder)",
    ttl_column="toDateTime(claimed_at)",
)

ALERT_TABLES = (ALERT_RULES, ALERT_STATE, ALERT_EVENTS, ALERT_SILENCES, ALERT_DELIVERIES, ALERT_LEASE)
