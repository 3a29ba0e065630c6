"""The content capture policy the server enforces: which calls keep their prompt and response.

A ``Rule`` says what share of traces keeps content (``rate``, decided by a hash of the trace id so
every span of a trace agrees, on every server), whether failed calls always keep it (``errors``)
and whether calls the app flags keep it (``flagged``: the SDK's ``tokentrail.context(capture=...)``,
the span attribute ``tokentrail.capture=true``, the gateway header ``X-Tokentrail-Capture: true``;
``false`` opts a call out). The rule of a call is the most specific of: ``route:PROJECT/ROUTE``,
``route:ROUTE``, ``project:PROJECT``, ``gateway`` (gateway calls; default from the setting
``gateway_capture``) and ``default`` (setting ``capture_policy``).

Marks (the seam for anomaly detection and evals): ``keep_trace(store, project, trace_id, reason)``
keeps the content of that trace's spans that arrive from then on, ``keep_route(store, project,
route, reason, minutes)`` keeps a route's content for a while. Both are stored rows, so every
server sharing the store sees them.

Rules live in the ``capture_policy`` table (migration m011), changed by ``PUT /api/admin/capture-policy``
and ``tokentrail capture-policy set``; each server reloads them every ``REFRESH_SECONDS``, so a
change applies within seconds everywhere. The reason content was kept is stored with it
(``contents.captured_reason``): ``error``, ``flagged``, ``sampled``, ``always``,
``route-override``, ``project-override``, or a mark's reason (``anomaly``, ``eval-failed`` ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.storage.backend import Store, write_generation

log = logging.getLogger("tokentrail.privacy")
REFRESH_SECONDS = 2.0
TABLE = "capture_policy"
MODES = ("off", "errors", "sampled", "always")


@dataclass(frozen=True)
class Rule:
    rate: float = 1.0  # share of traces whose content is kept (0..1)
    errors: bool = True  # failed calls keep their content
    flagged: bool = True  # calls the app flags keep theirs
    redact: bool | None = None  # per-project redaction override (None: the setting ``redact``)

    @classmethod
    def parse(cls, spec: Any) -> Rule:
        """A rule from a mode (``off``, ``errors``, ``always``, ``sampled:0.05``, ``0.05``) or a dict."""
        if isinstance(spec, Rule):
            return spec
        if isinstance(spec, dict):
            unknown = set(spec) - {"rate", "errors", "flagged", "redact", "mode"}
            if unknown:
                raise ValueError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
            base = cls.parse(spec["mode"]) if "mode" in spec else cls()
            rate = float(spec.get("rate", base.rate))
            if not 0.0 <= rate <= 1.0:
                raise ValueError("rate must be between 0 and 1")
            redact = spec.get("redact", base.redact)
            return cls(rate, bool(spec.get("errors", base.errors)), bool(spec.get("flagged", base.flagged)),
                       None if redact is None else bool(redact))
        text = str(spec).strip().lower()
        if text == "off":
            return cls(0.0, False, False)
        if text == "errors":
            return cls(0.0, True, True)
        if text == "always":
            return cls(1.0, True, True)
        if text.startswith("sampled"):
            text = text.partition(":")[2] or "0.01"
        try:
            rate = float(text)
        except ValueError:
            raise ValueError(f"a capture rule is off, errors, always, sampled:RATE or a rate, not {spec!r}") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        return cls(rate, True, True)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["redact"] is None:
            del d["redact"]
        return d


@dataclass
class Policy:
    """Every rule and mark in force, as the cache holds it (``scope`` -> rule)."""

    default: Rule = field(default_factory=Rule)
    gateway: Rule = field(default_factory=lambda: Rule(0.0, True, True))
    rules: dict[str, Rule] = field(default_factory=dict)  # "project:P", "route:R", "route:P/R"
    marks: dict[str, tuple[str, float]] = field(default_factory=dict)  # "trace:P/ID" | "route:P/R" -> (reason, until)

    def rule_for(self, project: str, route: str, source: str = "") -> tuple[Rule, str]:
        """The rule of a call and where it came from (``route``, ``project``, ``gateway``, ``default``)."""
        if self.rules:
            if route:
                rule = self.rules.get(f"route:{project}/{route}") or self.rules.get(f"route:{route}")
                if rule is not None:
                    return rule, "route"
            rule = self.rules.get(f"project:{project}")
            if rule is not None:
                return rule, "project"
        if source == "gateway":
            return self.gateway, "gateway"
        return self.default, "default"

    def mark(self, project: str, trace_hex: str, route: str) -> str | None:
        if not self.marks:
            return None
        now = time.time()
        for key in (f"trace:{project}/{trace_hex}", f"route:{project}/{route}" if route else ""):
            hit = self.marks.get(key) if key else None
            if hit and hit[1] > now:
                return hit[0]
        return None

    def decide(self, *, project: str, route: str, source: str, trace_id: bytes, failed: bool,
               flag: bool | None, client_reason: str = "") -> str | None:
        """Why this call's content is kept, or None (dropped before it is spooled)."""
        rule, origin = self.rule_for(project, route, source)
        if flag is False:
            return None
        marked = self.mark(project, trace_id.hex(), route)
        if marked:
            return marked
        if failed and rule.errors:
            return "error"
        if flag and rule.flagged:
            return "flagged"
        if client_reason == "flagged" and rule.flagged:
            return "flagged"
        if rule.rate <= 0.0 or (rule.rate < 1.0 and not sampled(trace_id, rule.rate)):
            return None
        if origin in ("route", "project"):
            return f"{origin}-override"
        if rule.rate >= 1.0:
            return client_reason or "always"
        return "sampled"

    def redact_for(self, project: str, default: bool) -> bool:
        rule = self.rules.get(f"project:{project}") if self.rules else None
        return default if rule is None or rule.redact is None else rule.redact

    def describe(self) -> dict[str, Any]:
        now = time.time()
        return {"default": self.default.to_dict(), "gateway": self.gateway.to_dict(),
                "rules": {k: r.to_dict() for k, r in sorted(self.rules.items())},
                "marks": {k: {"reason": r, "expires_in_s": round(u - now)} for k, (r, u) in sorted(self.marks.items())
                          if u > now}}


def sampled(trace_id: bytes, rate: float) -> bool:
    """Whether a trace falls in the sampled share: the same answer for every span and every server."""
    h = int.from_bytes(hashlib.blake2b(trace_id, digest_size=8).digest(), "big")
    return h < rate * 18446744073709551616


# -- the store and the cache -------------------------------------------------------------------------

def table_sql(database: str) -> str:
    from tokentrail.storage.schema import CAPTURE_POLICY

    return CAPTURE_POLICY.create_sql(database)


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _write(store: Store, scope: str, rule: str, actor: str, expires: datetime | None = None,
           deleted: bool = False) -> None:
    import pyarrow as pa

    store.insert_arrow(TABLE, pa.table({
        "scope": [scope], "rule": [rule],
        "expires_at": pa.array([expires or datetime(1970, 1, 1, tzinfo=UTC)], pa.timestamp("ms", tz="UTC")),
        "deleted": pa.array([1 if deleted else 0], pa.uint8()), "updated_by": [actor],
        "updated_at": pa.array([_now()], pa.timestamp("ms", tz="UTC"))}))


def valid_scope(scope: str) -> str:
    scope = scope.strip()
    if scope in ("default", "gateway") or (scope.startswith(("project:", "route:")) and len(scope.split(":", 1)[1]) > 0):
        return scope
    raise ValueError(f"scope must be default, gateway, project:NAME, route:ROUTE or route:PROJECT/ROUTE, not {scope!r}")


def set_rule(store: Store, scope: str, rule: Rule | None, actor: str = "local") -> None:
    """Store (or with None remove) the rule of ``scope``; every server applies it within seconds."""
    scope = valid_scope(scope)
    _write(store, scope, json.dumps(rule.to_dict()) if rule else "", actor, deleted=rule is None)
    cache_for(store).refresh()


def keep_trace(store: Store, project: str, trace_id: str, reason: str = "anomaly", minutes: float = 60) -> None:
    """Hook for anomaly detection and evals: keep the content of ``trace_id``'s spans arriving from now on."""
    _write(store, f"mark:trace:{project}/{trace_id.lower()}", reason, "hook", _now() + timedelta(minutes=minutes))
    cache_for(store).refresh()


def keep_route(store: Store, project: str, route: str, reason: str = "anomaly", minutes: float = 30) -> None:
    """Hook: keep every call's content on ``route`` for the next ``minutes`` (e.g. while an anomaly lasts)."""
    _write(store, f"mark:route:{project}/{route}", reason, "hook", _now() + timedelta(minutes=minutes))
    cache_for(store).refresh()


def load(store: Store, default: Rule, gateway: Rule) -> Policy:
    rows = store.query(f"""
        SELECT scope, argMax(rule, updated_at) AS rule, argMax(deleted, updated_at) AS deleted,
               toUnixTimestamp64Milli(argMax(expires_at, updated_at)) AS expires_ms
        FROM {store.database}.{TABLE} GROUP BY scope""")
    policy = Policy(default=default, gateway=gateway)
    now_ms = time.time() * 1000
    for r in rows:
        if int(r["deleted"]):
            continue
        scope, text = r["scope"], r["rule"]
        try:
            if scope.startswith("mark:"):
                if int(r["expires_ms"]) > now_ms:
                    policy.marks[scope[5:]] = (text, int(r["expires_ms"]) / 1000)
            elif scope == "default":
                policy.default = Rule.parse(json.loads(text))
            elif scope == "gateway":
                policy.gateway = Rule.parse(json.loads(text))
            else:
                policy.rules[scope] = Rule.parse(json.loads(text))
        except (ValueError, TypeError) as e:
            log.warning("capture policy: ignoring the stored rule %s: %s", scope, e)
    return policy


class PolicyCache:
    """The policy in force for one store. Reading it never waits on the store (ingest must not wait on a
    busy store): when the copy is older than ``REFRESH_SECONDS`` a background thread reloads it (so a
    change made on any server applies within about two seconds), and a store nobody reads is not
    polled. The server loads it once at start (``privacy.ingest.load_at_start``)."""

    def __init__(self, store: Store, default: Rule, gateway: Rule) -> None:
        self.store, self.default_rule, self.gateway_rule = store, default, gateway
        self.policy = Policy(default=default, gateway=gateway)
        self.loaded_at = -1e9
        self._generation: object | None = None
        self._lock = threading.Lock()
        self._loading = False

    def current(self) -> Policy:
        if self.store is not None and time.monotonic() - self.loaded_at > REFRESH_SECONDS and not self._loading:
            generation = write_generation(self.store, TABLE)
            if generation is not None and generation == self._generation:  # nothing written since: no reload
                self.loaded_at = time.monotonic()
                return self.policy
            with self._lock:
                if self._loading:
                    return self.policy
                self._loading = True
            threading.Thread(target=self.refresh, name="tokentrail-capture-policy", daemon=True).start()
        return self.policy

    def refresh(self) -> Policy:
        """Reload now (also called right after a change made through this process)."""
        try:
            if self.store is not None:
                generation = write_generation(self.store, TABLE)  # read before the load it stands for
                self.policy = load(self.store, self.default_rule, self.gateway_rule)
                self._generation = generation
        except Exception as e:  # a store hiccup keeps the last policy; a read after REFRESH_SECONDS retries
            log.warning("capture policy: reload failed: %s", e)
        finally:
            self.loaded_at = time.monotonic()
            self._loading = False
        return self.policy


_caches: dict[int, PolicyCache] = {}
_caches_lock = threading.Lock()


def configure(store: Store, default: str = "always", gateway: str = "errors") -> PolicyCache:
    """The cache of ``store``'s policy, its defaults from the settings ``capture_policy`` and
    ``gateway_capture`` (stored rules ``default`` and ``gateway`` override them)."""
    with _caches_lock:
        cache = _caches.get(id(store))
        if cache is None or cache.store is not store:
            cache = PolicyCache(store, Rule.parse(default), Rule.parse(gateway))
            _caches[id(store)] = cache
        else:
            cache.default_rule, cache.gateway_rule = Rule.parse(default), Rule.parse(gateway)
        return cache


def cache_for(store: Store) -> PolicyCache:
    cache = _caches.get(id(store))
    if cache is None or cache.store is not store:
        return configure(store)
    return cache
