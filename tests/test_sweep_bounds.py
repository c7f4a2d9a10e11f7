"""A sweep's size is counted from its axes before anything is expanded: a 2 KB spec asking
for 10^10 runs is refused in milliseconds and a few MB, by lint and compile alike."""

from __future__ import annotations

import random
import time
import tracemalloc

import pytest

from peftc.compiler.sweep import Axis, expand, size
from peftc.limits import EXACT_EXCLUDES

BASE = """
base_model: meta-llama/Llama-2-7b-hf
task: alpaca
profile: none
max_steps: 100
"""
HUNDRED = "[" + ", ".join(str(i) for i in range(1, 101)) + "]"
HUGE = BASE + "sweep:\n" + "".join(f"  {k}: {HUNDRED}\n" for k in (
    "lora_r", "lora_alpha", "seed", "max_steps", "warmup_steps"))


@pytest.mark.parametrize("command", ["lint", "compile"])
def test_a_ten_billion_run_sweep_is_refused_in_bounded_time_and_memory(
        write_spec, cli, tmp_path, command):
    spec = write_spec(HUGE)
    assert len(HUGE) < 2500
    args = [command, spec] + (["-o", tmp_path / "out"] if command == "compile" else [])
    tracemalloc.start()
    started = time.perf_counter()
    code, out, err = cli(*args)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 1
    assert ("spec.yaml:5:1: E316 error: the sweep makes 10,000,000,000 runs (lora_r 100 x "
            "lora_alpha 100 x seed 100 x max_steps 100 x warmup_steps 100), above the limit of "
            "100,000") in out + err
    assert seconds < 1.0
    assert peak < 16 * 2**20, f"{peak / 2**20:.1f} MiB"
    assert not (tmp_path / "out").exists()


def test_max_runs_counts_stages_and_can_be_raised(write_spec, cli):
    spec = write_spec(BASE + "stages: {a: {}, b: {learning_rate: 1.0e-4}}\n"
                      "sweep: {seed: [1, 2, 3]}\n")
    code, out, _ = cli("lint", spec, "--max-runs", "5")
    assert code == 1 and "makes 6 runs (seed 3 x 2 stages), above the limit of 5" in out
    code, out, _ = cli("lint", spec, "--max-runs", "6")
    assert code == 0, out


def _axes(rng: random.Random) -> list[Axis]:
    axes = []
    for n in range(rng.randint(1, 4)):
        width = rng.randint(1, 2)  # 2: a paired axis
        keys = tuple(f"k{n}{j}" for j in range(width))
        values = tuple(tuple(rng.randint(0, 2) for _ in keys) for _ in range(rng.randint(1, 4)))
        axes.append(Axis(keys, tuple(dict.fromkeys(values)), ((("", 0, 0),) * width)))
    return axes


def test_the_count_before_expansion_equals_the_expanded_grid():
    rng = random.Random(0)
    for _ in range(300):
        axes = _axes(rng)
        keys = [k for a in axes for k in a.keys]
        excludes = [{k: rng.randint(0, 2) for k in rng.sample(keys, rng.randint(1, len(keys)))}
                    for _ in range(rng.randint(0, 5))]
        assert size(axes, excludes) == (len(expand(axes, excludes)), True)


def test_past_exact_excludes_the_count_is_a_lower_bound():
    axes = [Axis(("a",), tuple((i,) for i in range(20)), (("", 0, 0),)),
            Axis(("b",), ((0,), (1,)), (("", 0, 0),))]
    excludes = [{"a": i} for i in range(EXACT_EXCLUDES + 1)] + [{"b": 0}]
    count, exact = size(axes, excludes)
    real = len(expand(axes, excludes))
    assert not exact and count <= real == 7
    assert len(expand(axes, excludes, limit=3)) == 4  # stops one past the limit


def test_contradicting_excludes_overlap_in_nothing():
    axes = [Axis(("a", "b"), ((0, 0), (1, 1)), (("", 0, 0),) * 2)]
    excludes = [{"a": 0}, {"a": 1}, {"a": 0, "b": 0}]
    assert size(axes, excludes) == (0, True) == (len(expand(axes, excludes)), True)
    assert size(axes, []) == (2, True)
