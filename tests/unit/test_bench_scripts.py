"""The measuring scripts that compare moorage with and without bearer tokens: `scripts/bench`'s
control run (a second moorage without tokens) and `scripts/measure-token-cost`."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, str(ROOT / "scripts" / "measure-token-cost")]


def load_script(name: str) -> ModuleType:
    """A script without `.py`, imported as a module (its `main` is not run)."""
    module_name = Path(name).name.replace("-", "_")
    loader = importlib.machinery.SourceFileLoader(module_name, str(ROOT / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while defining
    loader.exec_module(module)
    return module


@dataclass
class NamedServer:
    name: str


def test_bench_control_runs_second_moorage_without_tokens_and_says_so() -> None:
    bench = load_script("scripts/bench")
    server = bench.moorage_server(
        Path(sys.executable), Path("/tmp/w"), Path("/tmp/o"), name=bench.CONTROL
    )
    assert server.env["MOORAGE_AUTH"] == "none"
    with_tokens = bench.moorage_server(
        Path(sys.executable), Path("/tmp/w"), Path("/tmp/o"), name=bench.TOKENS
    )
    assert with_tokens.env["MOORAGE_AUTH"] == "token"

    servers = [NamedServer("moorage"), NamedServer(bench.CONTROL), NamedServer("docker-registry")]
    assert [s.name for s in bench.run_order(servers, 1)] == [
        "docker-registry",
        "moorage",
        "docker-registry",
        bench.CONTROL,
    ]
    assert [s.name for s in bench.run_order(servers, 2)][1] == bench.CONTROL

    figures = bench.Outcome(100.0, "req/s", cross_checks={"wrk": 1000.0})
    peer = bench.Outcome(50.0, "req/s", cross_checks={"wrk": 300.0})
    second = bench.Outcome(90.0, "req/s", cross_checks={"wrk": 1100.0})
    control = bench.table([bench.Row("manifest-get", figures, peer, second, bench.CONTROL)])
    assert "manifest-get, control " in control
    assert "-10.0% vs moorage" in control
    assert "+10.0% vs moorage" in control
    assert "tokens" not in control
    tokens = bench.table([bench.Row("manifest-get", figures, peer, second)])
    assert "manifest-get, tokens on" in tokens
    assert "-10.0% vs tokens off" in tokens


def test_bench_tokens_rows_are_the_median_of_paired_changes() -> None:
    bench = load_script("scripts/bench")
    servers = [NamedServer("moorage"), NamedServer(bench.TOKENS), NamedServer("docker-registry")]
    # Runs beyond --runs measure the two moorages alone, still in alternating order.
    assert [s.name for s in bench.run_order(servers, 4, 3)] == [bench.TOKENS, "moorage"]
    assert [s.name for s in bench.run_order(servers, 5, 3)] == ["moorage", bench.TOKENS]
    assert len(bench.run_order(servers, 3, 3)) == 4

    def run(value: float, wrk: float, core: float) -> object:
        return bench.Outcome(value, "req/s", cross_checks={"wrk": wrk}, per_core={"": core})

    # The machine's speed moves between pairs; within each pair tokens cost 2-4%. The ratio
    # of the two medians (1000 against 1200) would say -16.7%.
    mine = [run(1000, 10000, 50), run(1600, 16000, 80), run(1200, 12000, 60)]
    tokens = [run(970, 9800, 49), run(1550, 15400, 78), run(800, 11700, 58.2)]
    costs = bench.paired_costs(mine, tokens)
    assert costs["value", ""] == pytest.approx(-0.03125)
    assert costs["cross", "wrk"] == pytest.approx(-0.025)
    assert costs["core", ""] == pytest.approx(-0.025)
    # A failed run on either side leaves its pair out.
    failed = bench.Outcome(error="exit status 1")
    assert bench.paired_costs([*mine, run(1, 1, 1)], [*tokens, failed]) == costs

    row = bench.Row(
        "manifest-get",
        bench.median_outcome(mine),
        bench.Outcome(500.0, "req/s", cross_checks={"wrk": 2000.0}, per_core={"": 20.0}),
        bench.median_outcome(tokens),
        bench.TOKENS,
        costs,
    )
    text = bench.table([row])
    assert "-3.1% vs tokens off" in text
    assert "-2.5% vs tokens off" in text
    assert "-16.7%" not in text


def test_bench_refuses_control_without_the_runs_it_replaces() -> None:
    bench = load_script("scripts/bench")
    with pytest.raises(SystemExit) as refused:
        bench.parse_args(["--bench", "x.py", "--control", "--no-tokens"])
    assert refused.value.code == 2
    with pytest.raises(SystemExit):
        bench.parse_args(["--bench", "x.py", "--pairs", "0"])


def test_measure_token_cost_prints_both_sides() -> None:
    done = subprocess.run(
        [*SCRIPT, "--requests", "20", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for method in ("GET", "HEAD"):
        line = next(line for line in done.stdout.splitlines() if line.startswith(f"{method}:"))
        assert re.search(r"without tokens [\d.]+ µs .* with [\d.]+ µs .* with/without [\d.]+", line)
