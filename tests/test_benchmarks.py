"""The benchmarks run in quick mode and print one well-formed JSON object (their speed is not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Real
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

#: Seconds a quick benchmark may take here (the machine may be shared: bench_inference --quick took
#: 237-240+ s with the full suite running beside other sessions; quick aims at < 60 s).
QUICK_TIMEOUT_S = 420
#: The quality benchmark's held-out sets (benchmarks/quality/README.md, "Held-out sets").
HELD_OUT = ("rasa_finance", "rasa_helpdesk", "unfair_tos")


def run_quick(name: str, *extra: str) -> dict:
    """Run ``benchmarks/<name>.py --quick --json`` and return the JSON object it printed."""
    script = ROOT / "benchmarks" / f"{name}.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--json", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout, got: {done.stdout[:2000]}"
    return json.loads(lines[0])


def assert_machine(result: dict) -> None:
    machine = result["machine"]
    assert isinstance(machine["cores"], int) and machine["cores"] >= 1
    assert isinstance(machine["cpu_model"], str)
    assert isinstance(machine["cpu_flags"], list)
    assert isinstance(machine["versions"], dict) and machine["versions"]["python"]


def assert_latency(summary: dict) -> None:
    assert summary["n"] > 0
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        assert isinstance(summary[key], Real) and summary[key] >= 0
    assert summary["p50_ms"] <= summary["p99_ms"]


def assert_bools(acceptance: dict) -> None:
    assert acceptance and all(isinstance(v, bool) for v in acceptance.values())


def test_intake_benchmark_prints_peaks_cpu_ratios_and_redis_calls() -> None:
    result = run_quick("bench_intake")

    assert result["benchmark"] == "intake" and result["quick"] is True
    assert_machine(result)
    for name in ("bare", "floor", "seed", "mvr"):
        peak, fixed = result["peak"][name], result["fixed"][name]
        assert peak["requests"] > 0 and isinstance(peak["failures"], int)
        assert isinstance(peak["generator_bound"], bool)
        assert peak["rps"] > 0 and peak["locust_cpu_cores"] >= 0
        assert fixed["server_cpu_us_per_request"] > 0
    for group in ("cpu_per_request", "peak_rps"):
        assert set(result["ratios"][group]) == {"mvr_vs_seed", "mvr_vs_floor", "mvr_vs_bare"}
        assert all(v > 0 for v in result["ratios"][group].values())
    assert result["redis_calls_per_ticket"] > 0
    assert result["redis_top_level_commands"]
    assert result["mvr_at_80pct_peak"]["p99_ms"] >= 0
    assert_bools(result["acceptance"])


def test_e2e_benchmark_prints_throughputs_efficiency_latency_and_rss() -> None:
    result = run_quick("bench_e2e", "--tickets", "100", "--stream-s", "3")

    assert result["benchmark"] == "e2e"
    assert_machine(result)
    assert result["tickets"] == 100
    assert result["worker_tickets_per_s"] > 0 and result["engine"]["tickets_per_s"] > 0
    assert result["pipeline_efficiency"] > 0 and result["cpu_efficiency"] > 0
    assert result["backend"] in ("embedding", "baseline", "nli")
    assert_latency(result["stream_at_50pct"])
    round_trips = result["redis_round_trips_per_ticket"]
    assert round_trips["complete"] >= 1 and round_trips["total"] >= round_trips["complete"]
    assert all(mb > 0 for mb in result["rss"]["api_workers_mb"])
    assert all(mb > 0 for mb in result["rss"]["worker_processes_mb"])
    assert_bools(result["acceptance"])


def test_scale_benchmark_prints_each_setup_with_redis_cpu_per_ticket() -> None:
    result = run_quick("bench_scale", "--tickets", "60")

    assert result["benchmark"] == "scale"
    assert_machine(result)
    assert set(result["setups"]) | set(result["skipped"]) == {"api1", "api2", "workers2", "rabbitmq"}
    assert {"api1", "api2", "workers2"} <= set(result["setups"])
    for setup in result["setups"].values():
        assert setup["intake_tickets_per_s"] > 0 and setup["worker_tickets_per_s"] > 0
        assert setup["redis_cpu_us_per_accepted_ticket"] > 0 and setup["redis_cpu_us_per_triaged_ticket"] > 0
        assert setup["redis_limit_tickets_per_s"] > 0
    assert all(v > 0 for v in result["ratios"].values())


def test_queue_benchmark_prints_latency_at_both_sizes() -> None:
    result = run_quick("bench_queue", "--requests", "100")

    assert result["benchmark"] == "queue"
    assert_machine(result)
    for size in ("1000", "100000"):
        for route in ("queue_top", "queue_deep", "next"):
            assert_latency(result["sizes"][size][route])
    assert all(v > 0 for v in result["ratios"].values())
    assert_bools(result["acceptance"])


def test_inference_benchmark_prints_rates_and_ratios() -> None:
    result = run_quick("bench_inference")

    assert result["quick"] is True
    for name in ("a", "b", "d", "e"):
        entry = result["results"][name]
        assert entry["texts_per_s"] > 0 and entry["tokens_per_s"] > 0
        assert len(entry["per_round_texts_per_s"]) == result["rounds"]
    for key in ("e_over_b_per_text", "e_over_a_per_ticket", "bucketed_over_naive"):
        assert result["ratios"][key] > 0


def test_long_ticket_benchmark_prints_rates_by_length_and_the_buried_sentence_check() -> None:
    result = run_quick("bench_long")

    assert [row["words"] for row in result["lengths"]] == [50, 200, 1000, 5000]
    for row in result["lengths"]:
        assert row["tickets_per_s"] > 0 and row["cost_vs_shortest"] > 0
    assert result["lengths"][0]["chunks_per_ticket"] == 0 < result["lengths"][-1]["chunks_per_ticket"]
    assert all(isinstance(row["same_category"], bool) for row in result["buried"])


def test_quality_benchmark_prints_f1_with_intervals_per_set_and_backend() -> None:
    result = run_quick("bench_quality")

    assert result["benchmark"] == "quality" and result["quick"] is True
    assert_machine(result)
    assert result["resamples"] >= 1000
    external = result["sets"]["external"]
    assert set(external["classes"]) == {"billing", "technical", "legal"}
    assert set(external["sources"]) == {"clinc150", "it_tickets", "policyqa", "gitbugs_vscode"}
    held_out = result["sets"]["held_out"]
    assert set(held_out["classes"]) == {"billing", "technical", "legal"}
    assert set(held_out["sources"]) == set(HELD_OUT)
    entries = {entry["name"]: entry for entry in result["results"]}
    assert "baseline" in entries and any(name.startswith("embedding") for name in entries)
    assert "nli" in entries
    taxonomy_names = {
        c["name"].lower() for c in json.loads((ROOT / "benchmarks/quality/clinc150_domains.json").read_text())
    }
    for entry in entries.values():
        if "skipped" in entry:
            assert entry["name"] != "baseline" and entry["skipped"]
            continue
        for name in ("clinc150", "it_tickets", "policyqa", "gitbugs_vscode", "external", "clinc150_domains"):
            figures = entry["sets"][name]
            lo, hi = figures["macro_f1_ci"]
            assert 0 <= lo <= hi <= 1 and 0 <= figures["macro_f1"] <= 1
            assert figures["rows"] == result["sets"][name]["rows"]
            assert sum(m["support"] for m in figures["per_class"].values()) == figures["rows"]
            assert all(m["f1_ci"][0] <= m["f1_ci"][1] for m in figures["per_class"].values())
        assert set(entry["sets"]["clinc150_domains"]["per_class"]) <= taxonomy_names
        if "tickets_multilingual" in result["sets"]:
            languages = [n for n in entry["sets"] if n.startswith("tickets_multilingual[")]
            pooled_rows = entry["sets"]["tickets_multilingual"]["rows"]
            assert languages and sum(entry["sets"][n]["rows"] for n in languages) == pooled_rows
        wrong = sum(x["rows"] for x in entry["confusions"])
        assert wrong == round(external["rows"] * (1 - entry["sets"]["external"]["accuracy"]))
        assert all(len(v) <= 5 for v in entry["misrouted_examples"].values())
        assert_held_out_aggregates_only(entry, held_out)


def assert_held_out_aggregates_only(entry: dict[str, Any], held_out: dict[str, Any]) -> None:
    """The held-out group is pooled apart, with intervals, and never shows a confusion or a text."""
    for name in (*HELD_OUT, "held_out"):
        figures = entry["sets"][name]
        assert "confusion" not in figures and "labels" not in figures
        lo, hi = figures["macro_f1_ci"]
        assert 0 <= lo <= hi <= 1
    pooled = entry["sets"]["held_out"]
    assert pooled["rows"] == held_out["rows"] == sum(entry["sets"][name]["rows"] for name in HELD_OUT)
    assert set(pooled["per_class"]) == {"billing", "technical", "legal"}
    shown = [x["source"] for x in entry["misroutes_by_source_label"]]
    shown += [x["source"] for examples in entry["misrouted_examples"].values() for x in examples]
    assert not set(shown) & set(held_out["sources"])


def test_quality_bootstrap_intervals_hold_the_point_and_narrow_with_rows() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_quality import bootstrap_f1, score

    perfect = bootstrap_f1(["a", "b"] * 50, ["a", "b"] * 50, resamples=1000)
    assert perfect["macro_f1"] == [1.0, 1.0] and perfect["per_class"]["a"] == [1.0, 1.0]
    truth, predicted = ["a", "a", "b", "b"], ["a", "b", "b", "b"]
    small, large = score(truth * 10, predicted * 10, 1000), score(truth * 200, predicted * 200, 1000)
    for figures in (small, large):
        lo, hi = figures["macro_f1_ci"]
        assert lo < figures["macro_f1"] < hi
    assert large["macro_f1"] == small["macro_f1"]
    assert (
        large["macro_f1_ci"][1] - large["macro_f1_ci"][0] < small["macro_f1_ci"][1] - small["macro_f1_ci"][0]
    )


def test_urgency_benchmark_reports_auc_per_source_and_skips_missing_data(tmp_path: Path) -> None:
    result = run_quick("bench_urgency", "--sources", str(tmp_path))

    assert result["benchmark"] == "urgency" and result["quick"] is True
    assert_machine(result)
    assert "apache_jira" in result["skipped"] and "fetch github:" in result["skipped"]["apache_jira"]
    assert "fluid_jira" in result["skipped"] and "fetch github:" in result["skipped"]["fluid_jira"]
    assert set(result["sources"]) | set(result["skipped"]) == {
        "airline",
        "apache_jira",
        "fluid_jira",
        "tickets_dev",
        "tickets_multilingual",
    }
    if "airline" in result["sources"]:
        assert 0.5 < result["sources"]["airline"]["auc_p_negative"] <= 1.0
    for name, groups in result["sources"].items():
        if name == "airline":
            continue
        for group in groups.values():
            assert group["rows"] >= group["high"] >= 0
            if group["auc_s"] is not None:
                low, high = group["ci95_s"]
                assert 0.0 <= low <= group["auc_s"] <= high <= 1.0
                assert 0.0 <= group["auc_cues"] <= 1.0 and 0.0 <= group["auc_p_negative"] <= 1.0
