"""bench/run_all.py: one command runs the performance set and writes JSON, Markdown and the README's
table. The benchmarks themselves are too slow for the suite: a stand-in script plays one here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _runner():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "bench" / "run_all.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figures_are_flattened_into_table_rows() -> None:
    run_all = _runner()
    rows = run_all.flatten({"spans_per_s": 51234, "floor": {"upb": 300000.0, "engine": 0.5},
                            "rates": [1, 10], "ok": True, "note": "a|b"})
    assert rows == [("spans_per_s", "51,234"), ("floor.upb", "300,000"), ("floor.engine", "0.5"),
                    ("rates", "1, 10"), ("ok", "true"), ("note", "a\\|b")]


def test_a_run_writes_json_markdown_and_the_readme_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_all = _runner()
    script = tmp_path / "bench" / "fake.py"
    script.parent.mkdir()
    script.write_text('import json, sys\nprint("warming up")\nprint(json.dumps({"bench": "fake", "rate": 7, '
                      '"args": sys.argv[1:]}))\n')
    broken = tmp_path / "bench" / "broken.py"
    broken.write_text('import sys\nprint("boom", file=sys.stderr)\nsys.exit(3)\n')
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{run_all.START}\nold\n{run_all.END}\n\ntail\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    monkeypatch.setattr(run_all, "BENCHES", {"fake": (["--quick"], []), "broken": ([], [])})
    monkeypatch.setattr("sys.argv", ["run_all.py", "--readme", "--out", str(tmp_path / "out")])
    run_all.main()
    results = json.loads((tmp_path / "out" / "latest.json").read_text())
    assert results["benches"]["fake"]["rate"] == 7 and results["benches"]["fake"]["args"] == ["--quick"]
    assert results["benches"]["broken"]["error"] == "exit 3: boom"
    table = (tmp_path / "out" / "latest.md").read_text()
    assert "| `fake` | rate | 7 |" in table and "| `broken` | error | exit 3: boom |" in table
    text = readme.read_text()
    assert "old" not in text and "| `fake` | rate | 7 |" in text and text.endswith("tail\n")


def test_the_readme_has_the_generated_block() -> None:
    run_all = _runner()
    text = (ROOT / "README.md").read_text()
    assert text.count(run_all.START) == 1 and text.count(run_all.END) == 1


def test_the_readme_gets_the_headline_figures_and_a_link_to_the_rest() -> None:
    run_all = _runner()
    results = {"meta": {"date": "d", "commit": "c", "full": False, "python": "3.11", "machine": "x"}, "benches": {
        "ingest": {"spans_per_s": 32567, "server_peak_rss_mb": 796.0, "floor_spans_per_s_one_core": {
            "engine_insert": 34932, "upb_parse": 600000}},
        "recording": {"idle_cpu_pct": 1.0, "otlp": {"1": {"cpu_ms_per_call": 102.0}, "10": {"cpu_ms_per_call": 8.86}}},
        "pages": {"pages_over_300ms": [], "slowest_page": {"none 24h": {"page": "cost", "p50_ms": 88.2},
                                                           "user 24h": {"page": "quality", "p50_ms": 51.9}}}}}
    table = run_all.headline(results)
    assert "| `ingest` | durable spans/s (acknowledged and inserted) | 32,567 |" in table
    assert "| `ingest` | floor, engine INSERT spans per CPU-second | 34,932 |" in table
    assert "upb" not in table  # only the headline figures; the link has the rest
    assert "[bench/results/latest.md](bench/results/latest.md)" in table
    assert "| `recording` | otlp: server CPU ms per call at 1 / 10 / 100 / 1,000 calls/s | 102 / 8.86 / – / – |" in table
    assert "| `pages` | pages over 300 ms (filter, range) | none |" in table
    assert "| `pages` | slowest page p50 over 24h (filter: page) | 88.2 ms (none: cost) |" in table
