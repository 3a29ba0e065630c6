"""Every long reliability bench, one after the other (they would compete for the CPU side by side).
Prints one JSON object: each bench's figures under its name, and ``summary`` with the figures the
issue's closing note asks for.

    python bench/reliability/run_all.py [--quick] [--only crash,poison,...]

``--quick`` runs shortened versions (fewer kills, smaller giant traces, fewer fuzz cases, a 2-minute
soak, a 20 s outage): about 15 minutes instead of about 45. A bench that fails is reported with the
end of its stderr under ``error``; the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from _common import ROOT

HERE = ROOT / "bench" / "reliability"

FULL: dict[str, list[str]] = {
    "crash": ["crash.py", "--kills", "20"],
    "poison": ["crash.py", "--kills", "20", "--poison", "--seed", "2"],
    "giant": ["giant.py"],
    "store_trouble": ["store_trouble.py"],
    "overload": ["overload.py"],
    "fuzz": ["fuzz.py"],
    "soak": ["soak.py"],
    "app_side": ["app_side.py"],
}
QUICK: dict[str, list[str]] = {
    "crash": ["crash.py", "--kills", "8"],
    "poison": ["crash.py", "--kills", "6", "--poison", "--seed", "2"],
    "giant": ["giant.py", "--trace-spans", "50000", "--traces", "5000"],
    "store_trouble": ["store_trouble.py", "--full-seconds", "5", "--outage", "15"],
    "overload": ["overload.py", "--measure", "10", "--seconds", "30"],
    "fuzz": ["fuzz.py", "--api-per-operation", "40", "--dashboard", "600", "--otlp", "1500"],
    "soak": ["soak.py", "--seconds", "120"],
    "app_side": ["app_side.py", "--outage", "20", "--broken", "15"],
}


def run_one(argv: list[str], timeout: float) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        r = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], capture_output=True, text=True,
                           cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        return {"error": f"exit {r.returncode}: {r.stderr[-1500:]}"}
    out = json.loads(lines[-1])
    out["bench_seconds"] = round(time.monotonic() - t0, 1)
    return out


def summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def get(name: str, *keys: str) -> Any:
        value: Any = results.get(name, {})
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        return value

    runs = [results[n] for n in ("crash", "poison") if "acked_spans" in results.get(n, {})]
    return {
        "crash_poison_acked": sum(r["acked_spans"] for r in runs),
        "crash_poison_stored": sum(r["stored_spans"] for r in runs),
        "crash_poison_lost": sum(r["lost"] for r in runs),
        "crash_poison_duplicated": sum(r["duplicated"] for r in runs),
        "giant_health_max_s": get("giant", "health_max_s"),
        "giant_query_max_s": get("giant", "query_max_s"),
        "disk_full_lost": get("store_trouble", "disk_full", "lost"),
        "fuzz_cases": get("fuzz", "cases"),
        "fuzz_5xx": get("fuzz", "server_errors"),
        "fuzz_hangs": get("fuzz", "hangs"),
        "overload_vm_hwm_mb": get("overload", "vm_hwm_mb"),
        "overload_statuses": get("overload", "statuses"),
        "soak_rss_slope_mb_per_min": get("soak", "rss_slope_mb_per_min"),
        "soak_lost": get("soak", "lost"),
        "failed_benches": [n for n, r in results.items() if "error" in r],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated names: " + ",".join(FULL))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per bench")
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    names = [n for n in args.only.split(",") if n] or list(plan)
    results = {name: run_one(plan[name], args.timeout) for name in names}
    print(json.dumps({"quick": args.quick, **results, "summary": summary(results)}, separators=(",", ":")))


if __name__ == "__main__":
    main()
