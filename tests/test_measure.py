"""The measurement discipline (lxdex_capacity.measure): figures from repeats, the machine's state in each repeat's
window, statuses, verdicts that cannot flip, adaptive repeats; and, with real CPU hogs, that a busy machine is seen
and turns verdicts into "too noisy to call".  No assertion here is on how long anything took."""

from __future__ import annotations

import json
import time

import pytest

from helpers import run_cli
from helpers.hogs import cpu_hogs
from lxdex_capacity.measure import (
    Figure,
    MachineState,
    RepeatPolicy,
    Sample,
    judge,
    median_interval,
    open_window,
    run_repeats,
    summarise,
    unsteady_line,
)
from lxdex_capacity.measure.figure import figure_from_dict
from lxdex_capacity.measure.state import OTHER_CORES_BUSY, combine

# The figure tests judge made-up windows, and the last ones the real machine: they see busy windows as busy
# (machine_state); the runner's tests see every window quiet, whatever else runs.
REAL = pytest.mark.machine_state


def state(other: float = 0.0, seconds: float = 2.0, spin: float | None = None, steal: float = 0.0) -> MachineState:
    return MachineState(seconds=seconds, cpus=2, own_cores=1.0, other_cores=other, steal_share=steal, interrupt_share=0.0,
                        spin_lost_share=spin, load_1m=0.5, runnable=1, frequency_mhz=None)


QUIET, BUSY = state(0.0), state(1.5)


# --- figures --------------------------------------------------------------------------------------------------


@REAL
def test_median_interval_coverage_is_the_order_statistics():
    assert median_interval([3, 1, 2, 5, 4])[1:] == (1, 5, pytest.approx(0.9375))
    median, low, high, coverage = median_interval(range(1, 10))
    assert (median, low, high) == (5, 2, 8) and coverage == pytest.approx(0.9609375)


@REAL
def test_a_steady_figure_is_stable_and_says_its_spread():
    f = summarise("rate", "orders/s", [100, 101, 99, 100, 102], [QUIET] * 5)
    assert f.status == "stable" and f.value == 100 and (f.low, f.high) == (99, 102)
    assert f.cv < 0.02 and f.used == (0, 1, 2, 3, 4) and f.disturbed == () and f.outliers == ()


@REAL
def test_a_spread_figure_is_noisy_and_an_outlier_is_named():
    noisy = summarise("rate", "orders/s", [100, 140, 70, 120, 90], [QUIET] * 5)
    assert noisy.status == "noisy" and "CV" in noisy.reason
    with_outlier = summarise("rate", "orders/s", [100, 101, 99, 100, 400, 100, 101], [QUIET] * 7)
    assert with_outlier.outliers == (4,)


@REAL
def test_busy_repeats_are_left_out_when_most_were_quiet():
    f = summarise("rate", "orders/s", [100, 101, 30, 99, 100], [QUIET, QUIET, BUSY, QUIET, QUIET])
    assert f.status == "stable" and f.disturbed == (2,) and 2 not in f.used and f.value == 100
    assert "left out" in f.reason


@REAL
def test_a_figure_measured_mostly_on_a_busy_machine_is_disturbed_and_decides_nothing():
    f = summarise("rate", "orders/s", [30, 31, 29, 30, 30], [BUSY] * 4 + [QUIET])
    assert f.status == "disturbed" and "busy" in f.reason and f.busy_reasons
    assert judge(f, ">=", 10) == "too noisy to call" and judge(f, ">=", 1000) == "too noisy to call"


@REAL
def test_short_windows_quiet_alone_but_busy_together_make_a_disturbed_figure():
    # Each window too short for /proc/stat's ticks to call busy, together clearly busy.
    short = state(other=OTHER_CORES_BUSY * 3, seconds=0.02)
    assert not short.busy and combine([short] * 50).busy
    assert summarise("rate", "orders/s", [100] * 50, [short] * 50).status == "disturbed"


@REAL
def test_a_spinning_core_that_lost_its_time_is_busy():
    assert state(spin=0.5).busy and not state(spin=0.01).busy
    assert state(steal=0.3).busy


@REAL
def test_a_counted_figure_ignores_the_machine():
    f = summarise("bytes", "B", [24.0], [BUSY], timed=False)
    assert f.status == "stable" and judge(f, "<=", 24) == "holds" and judge(f, "<=", 23) == "fails"


@pytest.mark.parametrize(("values", "op", "target", "verdict"), [
    ([10, 11, 12, 11, 10], ">=", 9, "holds"),
    ([10, 11, 12, 11, 10], ">=", 13, "fails"),
    ([10, 11, 12, 11, 10], ">=", 11, "too noisy to call"),
    ([10, 11, 12, 11, 10], "<=", 12, "holds"),
    ([10, 11, 12, 11, 10], "<=", 9, "fails"),
    ([10, 11], ">=", 1, "too noisy to call"),  # two runs make no interval
])
@REAL
def test_verdicts_come_from_the_interval(values, op, target, verdict):
    assert judge(summarise("x", "", values, [QUIET] * len(values)), op, target) == verdict


@REAL
def test_a_figure_survives_its_json():
    f = summarise("rate", "orders/s", [100, 101, 30, 99, 100], [QUIET, QUIET, BUSY, QUIET, QUIET], stop="as asked")
    back = figure_from_dict(json.loads(json.dumps(f.as_dict())))
    assert isinstance(back, Figure) and back.as_dict() == f.as_dict()


@REAL
def test_the_one_line_warning():
    assert unsteady_line([summarise("a", "", [1, 1, 1], [QUIET] * 3)]) is None
    line = unsteady_line([summarise("a", "", [1, 1, 1], [BUSY] * 3), summarise("b", "", [1, 1, 1], [QUIET] * 3)])
    assert line is not None and "\n" not in line and "1 of 2" in line and "other processes used 1.50 cores" in line
    noisy = unsteady_line([summarise("a", "", [1, 2, 3], [QUIET] * 3)])
    assert noisy is not None and "noisy" in noisy


# --- repeats --------------------------------------------------------------------------------------------------


def test_exactly_the_repeats_asked_after_the_warm_up():
    calls = []
    r = run_repeats(lambda i: calls.append(i) or {"x": 1.0}, RepeatPolicy(repeats=4, warmup=2))
    assert calls == [-2, -1, 0, 1, 2, 3] and len(r.values) == 4 and len(r.states) == 4 and "as asked" in r.stop


def test_adaptive_repeats_stop_when_the_interval_is_tight():
    r = run_repeats(lambda i: {"x": 100.0 + (i % 2)}, RepeatPolicy(warmup=0, min_repeats=5, max_repeats=50, budget_s=600))
    assert len(r.values) == 5 and "within ±5%" in r.stop


def test_adaptive_repeats_stop_at_the_most_allowed_and_say_so():
    r = run_repeats(lambda i: {"x": float(1 + 50 * (i % 2))}, RepeatPolicy(warmup=0, min_repeats=5, max_repeats=8, budget_s=600))
    assert len(r.values) == 8 and "most allowed" in r.stop


def test_adaptive_repeats_stop_at_the_budget_after_three_at_least():
    def slow(i: int) -> dict[str, float]:
        time.sleep(0.02)
        return {"x": float(1 + 50 * (i % 2))}

    r = run_repeats(slow, RepeatPolicy(warmup=0, min_repeats=5, max_repeats=50, budget_s=0.001))
    assert len(r.values) == 3 and "time budget" in r.stop


def test_until_decides_when_repeats_stop():
    r = run_repeats(lambda i: Sample({"x": 1.0}, spin_lost_share=0.0), RepeatPolicy(warmup=0, min_repeats=3, max_repeats=9),
                    until=lambda values, states: "decided" if len(values) >= 4 else None)
    assert len(r.values) == 4 and r.stop.startswith("decided")
    assert all(s.spin_lost_share == 0.0 for s in r.states)


@pytest.mark.parametrize("bad", [dict(repeats=0), dict(budget_s=float("nan")), dict(min_repeats=10, max_repeats=5), dict(tight=1.5)])
def test_a_bad_policy_is_refused(bad):
    from lxdex_capacity.errors import InputError

    with pytest.raises(InputError):
        RepeatPolicy(**bad)


# --- a real machine -------------------------------------------------------------------------------------------


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@REAL
def test_a_window_sees_a_hog_on_every_core_and_counts_this_process_as_its_own():
    with cpu_hogs():
        window = open_window()
        _spin(0.5)
        busy = window.close()
    assert busy.busy and busy.other_cores > 1.0 and any("other processes" in r for r in busy.busy_reasons())
    # This process's spin is its own work, whatever share of a core the hogs left it (under more load than the test's
    # own hogs that share falls below a fifth of a core), and not counted again as another process's.
    assert busy.own_cores > 0 and busy.own_cores + busy.other_cores <= busy.cpus + 0.1


@REAL
def test_a_quiet_window_is_quiet_and_a_quiet_figure_stable():
    # Whether the machine is quiet is not this test's to decide (the suite must pass with other work running): it
    # needs one quiet window of five, else it says why it could not look.
    windows = []
    for _ in range(5):
        window = open_window()
        _spin(0.3)
        windows.append(window.close())
        if not windows[-1].busy:
            break
    if windows[-1].busy:
        pytest.skip(f"the machine is busy with other work ({windows[-1].busy_reasons()[0]}): no quiet window to look at")
    assert windows[-1].own_cores > 0.5
    f = summarise("spin", "s", [0.3, 0.3, 0.3], [windows[-1]] * 3)
    assert f.status == "stable" and judge(f, "<=", 1.0) == "holds"


@pytest.mark.slow  # ~15 s of CPU hogs; CI runs it in the slow pass
@REAL
def test_with_every_core_busy_a_benchmark_is_disturbed_and_no_target_holds_or_fails():
    args = ("bench", "--markets", "300", "--trades", "3000", "--repeats", "3", "--json")
    with cpu_hogs():
        busy = run_cli(*args)
    assert busy.exit_code == 0, busy.stderr
    report = json.loads(busy.stdout)
    timed = [f for f in report["figures"].values() if f["timed"]]
    assert timed and all(f["status"] == "disturbed" for f in timed)
    for key, target in report["targets"].items():
        if report["figures"][key]["timed"]:
            assert target["verdict"] == "too noisy to call" and not target["met"]
    lines = busy.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lxdex: warning:") and "busy" in lines[0]


@REAL
def test_with_every_core_busy_the_latency_slo_is_too_noisy_to_call_never_a_verdict():
    args = ("plan", "--markets", "300", "--latency-slo", "p99<=50us", "--slo-orders", "2000", "--slo-repeats", "3", "--json")
    with cpu_hogs():
        busy = run_cli(*args)
    assert busy.exit_code == 0, busy.stderr  # too noisy is no failed check
    slo = json.loads(busy.stdout)["latency_slo"]
    assert slo["outcome"] == "too noisy to call" and not slo["met"] and slo["rate_per_s"] == 0
    assert "too noisy" in slo["verdict"]
    assert [line for line in busy.stderr.splitlines() if line.strip()] and "Traceback" not in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1
