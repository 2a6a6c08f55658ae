"""``lxdex report``: a capacity report someone else can read, every number measured.

:func:`collect` gathers the figures (a simulation run, or a saved simulate JSON; the capacity model;
the plan; optionally per-order latency under load, :func:`measure_report_latency`) into one ``results`` dict; :func:`render_markdown` writes the report from it and
:func:`write_report` writes ``report.md``, a self-contained ``report.html`` (charts embedded as data
URIs, no external URLs), ``results.json`` and ``charts/*.png|svg``.  A saved ``results.json`` can be
rendered again without re-running anything.
"""

from __future__ import annotations

import base64
import html
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..atomic import check_output_folder, foreign_entries, make_folder, replaced_folder, strict_json, write_bytes_atomic
from ..capacity.plan import highest_use_text, machines_text, memory_verdict, recommendation_text
from ..errors import InputError, LxdexError
from ..latency.statistics import REPORT_LATENCY_BUDGET_S
from ..measure import RepeatPolicy
from ..measure.figure import NOISY_CV
from ..simulation.results import SimulationResult
from ..units import duration_text, gib, mb, price, si
from .results_schema import RESULTS_FORMAT

__all__ = ["RESULTS_FORMAT", "collect", "load_results", "render_markdown", "render_html", "write_report", "measure_report_latency",
           "latency_ladder", "LOAD_SHARES", "REPORT_LATENCY_ORDERS"]

# The report's latency run: offered rates as shares of the capacity its service times measure (light load,
# half, near capacity, beyond it), each rate with this many orders (100,000: ten samples beyond the p99.99).
LOAD_SHARES = (0.1, 0.5, 0.9, 1.5)
REPORT_LATENCY_ORDERS = 100_000
_RATE_DIGITS = 2  # offered rates rounded to this many significant digits (1.2M, not 1,234,567 orders/s)



def _environment() -> dict[str, Any]:
    from ..machine import machine_info

    return machine_info().as_dict()


def collect(simulation: dict[str, Any], model: Any, profiles: list[Any], request: Any, command: str,
            latency: dict[str, Any] | None = None) -> dict[str, Any]:
    """``results``: the simulate report, the model, the plan for ``request`` and how they were made; with
    ``latency`` (:func:`measure_report_latency`), the per-order latency under load as ``results["latency"]``.

    Measured beats extrapolated: when the simulation's one-core rate was measured on a quiet machine, the plan has a
    row for this machine at that rate, and the model's curve is scaled to it for every extrapolated profile
    (:class:`~lxdex_capacity.capacity.plan.Calibration`)."""
    from ..capacity.plan import plan

    profiles, here, calibration = measured_rate(simulation, model, profiles)
    results = {
        "format": RESULTS_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "environment": _environment(),
        "simulate": simulation,
        "model": model.as_dict(),
        "plan": plan(model, profiles, request, measured_here=here, calibration=calibration),
    }
    if latency is not None:
        results["latency"] = latency
    return results | {"kind": "report", "figures": report_figures(results)}


def report_figures(results: dict[str, Any]) -> dict[str, Any]:
    """Every timed figure of a report's results by name (``lxdex compare`` reads them): the simulation's orders/s by
    batch, and the latency run's capacity and per-rate figures."""
    figures: dict[str, Any] = {}
    batches = (results.get("simulate") or {}).get("throughput", {}).get("batches")
    if batches:
        figures["simulate.orders_per_s"] = batches
    latency = results.get("latency") or {}
    figures |= {f"latency.{name}": f for name, f in (latency.get("figures") or {}).items()}
    return figures


def _batches_text(batches: dict[str, Any] | None) -> str:
    """", its 26 batches 5.62M (5.31M–5.70M) orders/s, stable (CV 7.7%)": the repeated figure behind the rate."""
    if not batches:
        return ""
    return (f" over the traded phase; its {batches['repeats']:,} batches {si(batches['value'])} ({si(batches['low'])}–{si(batches['high'])}) "
            f"orders/s, {batches['status']} ({_text(batches['reason'])})")


def _stability_section(figures: dict[str, Any]) -> list[str]:
    """Every timed figure of the report: its median, the interval of the median, spread, repeats and status
    (stable / noisy / disturbed, :mod:`lxdex_capacity.measure`), and what disturbed the machine when it was busy."""
    timed = {name: f for name, f in figures.items() if f.get("timed", True)}
    if not timed:
        return []
    rows = [[_text(name), _figure_value(f),
             f"{100 * f['cv']:,.1f}%", f"{len(f['used']):,} of {f['repeats']:,}",
             f"{f['confidence'] * 100:,.1f}%", _text(f["status"]), _text(f["reason"])] for name, f in timed.items()]
    counts = {status: sum(f["status"] == status for f in timed.values()) for status in ("stable", "noisy", "disturbed")}
    busy = sorted({_text(f["reason"]) for f in timed.values() if f["status"] == "disturbed"})
    out = ["### How steady the timed figures were\n",
           "Each timed figure is the median of its repeats, with an order-statistic interval of that median and its "
           f"coverage; **stable** when the repeats spread by at most {NOISY_CV:.0%} (CV), **noisy** above it, **disturbed** when "
           "other processes, steal or interruptions took the machine during most repeats (those figures decide no verdict "
           f"and calibrate nothing). Here: {counts['stable']} stable, {counts['noisy']} noisy, {counts['disturbed']} disturbed"
           + (f" ({'; '.join(busy)})" if busy else "") + ".\n",
           _table(["figure", "median (interval)", "CV", "repeats used", "coverage", "status", "why"], rows) + "\n"]
    return out


def _figure_value(f: dict[str, Any]) -> str:
    """"5.62M (5.31M–5.70M) orders/s", or a time "18.1 µs (14.4 µs–22.8 µs)"."""
    if f["unit"] == "ns":
        return f"{duration_text(f['value'])} ({duration_text(f['low'])}–{duration_text(f['high'])})"
    return f"{_number(f['value'])} ({_number(f['low'])}–{_number(f['high'])}) {_text(f['unit'])}"


def _number(value: float) -> str:
    return si(value) if abs(value) >= 10_000 else f"{value:,.1f}"


def _calibrated(calibration: dict[str, Any] | None) -> str:
    """How an extrapolated rate was scaled to this machine's measured one (nothing when it was not)."""
    if not calibration:
        return ""
    return (f", scaled x{calibration['factor']:.2f} to this machine's {si(calibration['measured_per_s'])} orders/s per core at "
            f"{calibration['markets']:,} markets, measured by {_text(calibration['source'])} (the model says "
            f"{si(calibration['model_per_s'])}): measured beats extrapolated")


def measured_rate(simulation: dict[str, Any], model: Any, profiles: list[Any]) -> tuple[list[Any], str | None, Any]:
    """(profiles with this machine's added, its name, the calibration) when ``simulation`` measured one core's rate on a
    quiet machine (one thread per engine, its batch figure not disturbed); else (profiles, None, None)."""
    from ..capacity.check import this_machine
    from ..capacity.plan import Calibration

    throughput = simulation.get("throughput") or {}
    batches = throughput.get("batches")
    threads = (simulation.get("execution") or {}).get("threads", 1)
    if not batches or batches.get("status") == "disturbed" or threads != 1:
        return profiles, None, None
    measured, markets = float(batches["value"]), int(simulation["markets"])
    predicted = model.orders_per_s_per_core(markets)
    if not (measured > 0 and predicted > 0):
        return profiles, None, None
    here = this_machine(measured, "lxdex report's simulation on this machine")
    if any(p.name == here.name for p in profiles):
        return profiles, None, None
    return [*profiles, here], here.name, Calibration(markets, measured, predicted, "lxdex report's simulation")


def latency_ladder(capacity_per_s: float, shares: Sequence[float] = LOAD_SHARES) -> list[float]:
    """Offered rates (per second) as ``shares`` of ``capacity_per_s``, each rounded to two significant digits."""
    if not (math.isfinite(capacity_per_s) and capacity_per_s > 0):
        raise LxdexError(f"the latency run measured a capacity of {capacity_per_s!r} orders/s: no rates can be offered")
    rates = sorted({float(f"{share * capacity_per_s:.{_RATE_DIGITS}g}") for share in shares if share > 0})
    return [rate for rate in rates if rate > 0]




def measure_report_latency(scenario: Any, rates: Sequence[float] | None = None, orders_per_rate: int = REPORT_LATENCY_ORDERS,
                           progress: Callable[[int, int, str], None] | None = None, force: bool = False,
                           policy: RepeatPolicy | None = None) -> dict[str, Any]:
    """Per-order latency under load on ``scenario`` (its markets, seed and flow), pools reserved, Poisson
    arrivals, one order at a time: the service times first, then ``orders_per_rate`` orders at each of
    ``rates`` (default: :func:`latency_ladder` of the capacity just measured), each as often as ``policy`` says
    (default: adaptive within :data:`REPORT_LATENCY_BUDGET_S` a rate).  The books are seeded once.
    Returns :meth:`~lxdex_capacity.latency.harness.LatencyResult.as_dict`; ``progress(done, total, what)``.
    A run that would not fit in memory is refused before seeding, unless ``force``."""
    from ..latency.harness import LatencyRig, warm_up

    advance = progress or (lambda done, total, what: None)
    policy = policy or RepeatPolicy(budget_s=REPORT_LATENCY_BUDGET_S)
    steps = 2 + (len(rates) if rates is not None else len(LOAD_SHARES))
    advance(0, steps, "seeding the books")
    warm_up()
    rig = LatencyRig(scenario, reserve=True, orders_per_rate=orders_per_rate, force=force)
    capacity = rig.measure_service(policy, lambda _d, _t, what: advance(1, steps, what))  # before the offered rates, on books as seeded
    offered = list(rates) if rates is not None else latency_ladder(capacity.value)
    steps = 2 + len(offered)
    points = []
    for i, rate in enumerate(offered):
        def step(_done: int, _total: int, what: str, i: int = i) -> None:
            advance(2 + i, steps, what)

        points.append(rig.measure_rate(rate, policy, step))
    advance(steps, steps, "done")
    return rig.result(points, capacity=capacity, policy=policy.describe()).as_dict()


def load_results(path: str | Path) -> dict[str, Any]:
    """A saved report's results.json, checked against :class:`~lxdex_capacity.reporting.results_schema.ResultsFile`
    (every key the report and its charts read): anything wrong is one ``InputError`` naming the file and the key."""
    from ..schema import read_json, read_text
    from .results_schema import check_results

    data = read_json(read_text(path, "results file"), str(path))
    check_results(data, str(path))
    return dict(data)


def load_simulation(path: str | Path) -> dict[str, Any]:
    """A saved ``lxdex simulate --out`` report (simulate.json, in one process or sharded), checked
    field by field against the result schema (:class:`~lxdex_capacity.simulation.results.SimulateFile`)."""
    from ..schema import read_json, read_text

    data = read_json(read_text(path, "simulate file"), str(path))
    return SimulationResult.from_dict(data, str(path)).to_dict()


# --- formatting -----------------------------------------------------------------------------------

# Line breaks and other control characters (C0, DEL, C1, Unicode's line and paragraph separators): in a text
# from the results they would start a new Markdown block (a heading, a list, an HTML block).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MARKDOWN_MARKS = re.compile(r"([\\`*_\[\]])")  # emphasis, code, links and images, and the backslash itself


def _text(value: Any) -> str:
    """A free-form text from the results (a processor, a profile's name, a shard's error, ...) as Markdown that
    renders as exactly that text: on one line, HTML's ``<``, ``>`` and ``&`` as entities and Markdown's marks
    backslash-escaped, so neither report.md nor report.html carries markup (a ``<script>``, a link) from the file."""
    escaped = html.escape(_CONTROL.sub(" ", str(value)), quote=False)
    return _MARKDOWN_MARKS.sub(r"\\\1", escaped)


def _code(value: Any) -> str:
    """A free-form text from the results (a command line) as a Markdown code span: on one line, fenced by more
    backticks than any run of them inside it, so it cannot close the span early; Markdown escapes its ``<``
    and ``&`` in the HTML."""
    text = _CONTROL.sub(" ", str(value))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(header)))
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _depth_policy(scenario: dict[str, Any]) -> str:
    """What the traded phase did to book depth, in words (the scenario's ``stationary`` flag)."""
    if scenario.get("stationary"):
        return "after each batch of trades, every market it touched was cut back to its seeded depth (stationary books)"
    return "books were not trimmed after trading: their depth followed the flow"


def _cancels_label(scenario: dict[str, Any]) -> str:
    """The Performance table's name for the traded phase's cancels: trims back to the seeded depth, random
    cancels (the scenario's ``cancel_rate``), or both."""
    trims, rate = bool(scenario.get("stationary")), scenario.get("cancel_rate") or 0
    if trims and rate:
        return f"cancels: {rate:g} per flow order, plus trims keeping books at their seeded depth"
    if trims:
        return "cancels keeping books at their seeded depth"
    return f"cancels ({rate:g} per flow order)"


# --- latency under load -----------------------------------------------------------------------------


def _percentile_cells(row: dict[str, Any]) -> list[str]:
    """p50 … p99.99 and max of a percentile record, each in its own unit (ns, µs, ms, s)."""
    from ..units import duration_text
    from .latency_chart import LATENCY_SERIES

    return [duration_text(row[key]) for key, _ in LATENCY_SERIES]


def _latency_how(lat: dict[str, Any]) -> str:
    """How the latency run offered its load, in words."""
    batch = lat["batch"]
    taken = "one order at a time" if batch == 1 else f"in batches of {batch:,} (a batch when its last order has arrived)"
    if batch == 1 and lat.get("look_ahead"):
        taken += ", the engine seeing the orders queued behind it"
    pools = "pools sized before timing, so none grew" if lat["reserve"] else "pools growing as they fill (a stall when one doubles)"
    cancels = lat.get("cancels_per_order") or 0
    mix = f"; the messages are orders and {cancels:g} cancels per order, rates count both" if cancels else ""
    return f"{_text(lat['arrivals'])} arrivals, {taken}, {pools}{mix}"


def _messages(lat: dict[str, Any]) -> str:
    """What the run's rates count: orders, or messages when cancels are mixed in."""
    return "messages" if lat.get("cancels_per_order") else "orders"


def _latency_near_capacity(lat: dict[str, Any]) -> dict[str, Any] | None:
    """The highest offered rate below the capacity, or None."""
    below = [row for row in lat["rates"] if row["offered_per_s"] < lat["capacity_per_s"]]
    return max(below, key=lambda row: row["offered_per_s"]) if below else None


def _matching_cores(sim: dict[str, Any]) -> str:
    """What one engine's matching ran on: one core, or its partitions' threads (``simulate --threads``)."""
    threads = int((sim.get("execution") or {}).get("threads") or 1)
    return "one core" if threads == 1 else f"{threads} threads"


def _threads_scaling(scaling: dict[str, Any] | None) -> list[str]:
    """The model's orders/s by threads and the law fitted to it: what every profile's order capacity multiplies by."""
    if not scaling:
        return ["Order capacity with several cores: no scaling was measured, so a profile's cores each add one core's rate "
                "(an upper bound).\n"]
    rows = [[str(p["threads"]), f"{p['orders_per_s'] / 1e6:,.2f}M", f"{p['low'] / 1e6:,.2f}–{p['high'] / 1e6:,.2f}M", str(p["runs"]),
             f"{p['speedup']:.2f}×", f"{p['efficiency']:.0%}"] for p in scaling["measured"]]
    fit = scaling["fit"]
    return [f"Order capacity with several cores: the sweep's traded phase at {scaling['markets']:,} markets with 1 to "
            f"{scaling['measured'][-1]['threads']} threads (every thread count made the same trades); each profile's order capacity is "
            f"its rate per core times this speed-up of its engines' cores, beyond the threads measured the Universal Scalability Law "
            f"fitted to it: speedup(N) = N / (1 + sigma(N−1) + kappa·N(N−1)), sigma = {fit['sigma']:.3g}, kappa = {fit['kappa']:.3g}.\n",
            _table(["threads", "orders/s (median)", "low–high", "runs", "speed-up", "efficiency"], rows, right={0, 1, 2, 3, 4, 5}) + "\n"]


def _latency_section(lat: dict[str, Any]) -> list[str]:
    """The Markdown of the latency section (its chart is added by the caller)."""
    from ..units import duration_text, rate_text
    from .latency_chart import LATENCY_SERIES, OVERLOADED_SHARE, overloaded

    names = [name for _, name in LATENCY_SERIES]
    out = ["## Latency under load\n"]
    out.append(f"Each order's latency is its completion minus its arrival: the time it queued behind earlier orders plus its own "
               f"service, measured open loop (orders arrive at their drawn times whether or not the engine has kept up) on one core, "
               f"{_latency_how(lat)}; {lat['orders_per_rate']:,} orders per offered rate on this report's {lat['markets']:,} "
               f"markets (seed {lat['seed']}), the books seeded as the simulation seeds them.\n")
    service, spread = lat["service"], " / ".join(names)
    rows = [[f"service time, each order alone: {spread} ({service['samples']:,} orders)", " / ".join(_percentile_cells(service))]]
    cancels = lat.get("cancel_service")
    if isinstance(cancels, dict) and cancels.get("samples"):
        rows.append([f"service time, each cancel of a resting order alone: {spread} ({cancels['samples']:,} cancels)",
                     " / ".join(_percentile_cells(cancels))])
    rows.append(["capacity: one over the mean service time", f"{si(lat['capacity_per_s'])} {_messages(lat)}/s"])
    rows.append(["cycle counter step (the finest time resolved)", duration_text(lat["counter_ns"])])
    platform = lat.get("platform")
    if platform:
        rows.append([f"this core's own interruptions (a {platform['seconds']:g} s spin): per second, share of the time, "
                     "and the p99 / p99.9 they alone give a zero-time engine (the floor)",
                     f"{platform['per_s']:,.0f}/s, {platform['lost_share']:.1%}, {duration_text(platform['floor']['p99_ns'])} / "
                     f"{duration_text(platform['floor']['p999_ns'])}"])
    if lat.get("injected_delay_ns"):
        rows.append(["delay added to each order's service (a check of the harness)", duration_text(lat["injected_delay_ns"])])
    out.append(_table(["figure", "value"], rows) + "\n")
    table = []
    for row in sorted(lat["rates"], key=lambda row: row["offered_per_s"]):
        mark = " †" if overloaded(row) else " ‡" if row["offered_per_s"] > lat["capacity_per_s"] else ""
        table.append([f"{rate_text(row['offered_per_s'])}/s{mark}", f"{si(row['achieved_per_s'])}/s", *_percentile_cells(row),
                      f"{row['samples']:,}", f"{row['stalls']:,}"])
    out.append(_table(["offered", "achieved", *names, "samples", "stalls"], table, right=set(range(len(names) + 4))) + "\n")
    note = ("Achieved = orders completed over the time from the first arrival to the last completion; stalls = times a pool "
            "grew during the run. Nearest-rank percentiles: each figure is a measured order's latency.")
    if any(overloaded(row) for row in lat["rates"]):
        note += (f" † fell behind (achieved below {OVERLOADED_SHARE:.0%} of offered): the queue grew for the whole run, so these "
                 f"latencies grow with the run's length ({lat['orders_per_rate']:,} orders) as much as they measure the engine.")
    if any(row["offered_per_s"] > lat["capacity_per_s"] and not overloaded(row) for row in lat["rates"]):
        note += (" ‡ above the capacity measured one order at a time, and achieved all the same: taking orders from a queue, "
                 "the engine served them faster than one at a time alone.")
    out.append(note + "\n")
    return out


def _latency_summary(lat: dict[str, Any]) -> str:
    """The executive summary's latency line."""
    from ..units import duration_text, rate_text

    text = (f"- Per-order latency under load (open loop, one core): capacity {si(lat['capacity_per_s'])} {_messages(lat)}/s, one over "
            f"the mean service time (p50 {duration_text(lat['service']['p50_ns'])} for an order alone)")
    near = _latency_near_capacity(lat)
    if near is not None:
        text += (f"; at {rate_text(near['offered_per_s'])} {_messages(lat)}/s offered ({near['offered_per_s'] / lat['capacity_per_s']:.0%} of it) "
                 f"p50 {duration_text(near['p50_ns'])}, p99 {duration_text(near['p99_ns'])}, "
                 f"p99.99 {duration_text(near['p9999_ns'])}")
    return text + "."


# --- the report -----------------------------------------------------------------------------------


def render_markdown(r: dict[str, Any], charts: dict[str, dict[str, Any]], image: Callable[[str], str]) -> str:
    """The report as Markdown; ``image(name)`` gives each chart's link (a file path or a data URI)."""
    sim, model, plan = r["simulate"], r["model"], r["plan"]
    env, q = r["environment"], plan["request"]
    traded = SimulationResult.from_dict(sim, "results: simulate").traded
    t = sim["throughput"]
    fit = model["fit"]
    coef = {k: v["value"] for k, v in fit["coefficients"].items()}
    out: list[str] = []

    def fig(name: str) -> None:
        if name in charts:
            out.append(f"![{charts[name]['title']}]({image(name)})\n")

    out.append(f"# Capacity report: {sim['markets']:,} markets\n")
    out.append(
        f"Every figure below was measured by lxdex-capacity {_text(env['lxdex_capacity'])} on {_text(env['processor'])} "
        f"({env['cores']} cores, {env['memory_bytes'] / 2**30:,.1f} GiB), {_text(r['created'])}, or is a projection of the fitted "
        f"cost model with its 95% interval, marked as such. Regenerate with {_code(r['command'])}.\n"
    )

    out.append("## Executive summary\n")
    load = plan["load"]
    out.append(f"**Recommendation for {load['markets']:,} markets: {_text(recommendation_text(plan['recommendation'], load['markets'], plan.get('calibration')))}.** "
               f"Planned load: {load['orders_per_market']:,.1f} resting orders per market, {load['trades_retained']:,} trades "
               f"retained, {load['order_rate']:,.0f} orders/s, with the engine's memory at least {q['safety']:g} × its bytes used "
               f"and {q['os_reserve_gib']:g} GiB of each machine left to the OS.\n")
    out.append(
        f"- **{sim['markets']:,} markets** ({sim['universe'].get('securities', 0):,} securities, {sim['universe'].get('crypto', 0):,} crypto) "
        f"held **{traded.resting_orders:,} resting orders** and printed **{traded.trades:,} trades** in "
        f"**{mb(traded.engine_bytes_used)}** of engine memory ({mb(traded.engine_bytes_reserved)} reserved), "
        f"{traded.engine_bytes_used / sim['markets']:,.0f} B per market; the whole process, Python runtime included, "
        f"was {mb(traded.rss_bytes)} resident."
    )
    out.append(f"- Matching ran at **{si(t['orders_per_s'])} orders/s** on {_matching_cores(sim)}{_batches_text(t.get('batches'))}; "
               f"best bid/ask lookups at {si(t['lookups_per_s'])}/s; a random market access took {t['random_access_ns_p50']:,.1f} ns (p50).")
    lat = r.get("latency")
    if lat:
        out.append(_latency_summary(lat))
    e = plan["estimate"]
    out.append(f"- Predicted for this load: engine {mb(e['engine_bytes_used']['bytes'])} used, {mb(e['engine_bytes_reserved']['bytes'])} "
               f"reserved; a process holding it {mb(e['process_rss']['bytes'])} resident (measured here: {mb(traded.rss_bytes)}). "
               "`lxdex plan --check` runs the load and compares every predicted figure with its measurement.\n")
    priced = sorted((p for p in plan["profiles"] if p["yearly_cost_usd"] is not None and p["machines"] is not None),
                    key=lambda p: p["yearly_cost_usd"] * (1 if p["fits"] else p["machines_n_plus_1"]))
    def cheapest_row(p: dict[str, Any]) -> list[str]:
        if p["fits"]:
            return [_text(p["name"]), "1", f"${p['yearly_cost_usd']:,.0f}", _text(memory_verdict(p)), _text(highest_use_text(p))]
        share = p["machine_required_bytes"] / p["usable_bytes"]  # each of the N machines: its share of the load
        return [_text(p["name"]), machines_text(p["machines"]), f"${p['yearly_cost_usd'] * p['machines_n_plus_1']:,.0f}",
                f"{100 * (1 - share):,.1f}% each", f"memory {100 * share:,.0f}% each ({p['machine_markets']:,} markets)"]

    rows = [cheapest_row(p) for p in priced[:5]]
    if rows:
        out.append("The cheapest ways to hold it, by yearly cost (purchase over 3 years, or cloud hours all year); every "
                   "profile is in [Capacity per hardware profile](#capacity-per-hardware-profile):\n")
        out.append(_table(["profile", "machines", "per year", "headroom", "highest use"], rows) + "\n")

    out.append("## Test results by phase\n")
    rows = []
    for p in sim["phases"]:
        per_order = f"{p['book_bytes_per_order']:,.1f}" if p["resting_orders"] else "—"
        rows.append([_text(p["name"]), f"{p['resting_orders']:,}", f"{p['price_levels']:,}", f"{p['trades']:,}", mb(p["engine_bytes_used"]),
                     mb(p["engine_bytes_reserved"]), mb(p["rss_bytes"]), f"{p['engine_bytes_used'] / p['markets']:,.1f}", per_order,
                     f"{p['seconds']:,.2f}"])
    out.append(_table(["phase", "resting orders", "price levels", "trades", "engine used", "engine reserved", "process RSS",
                       "B/market", "B/order", "seconds"], rows) + "\n")
    out.append(f"Process baseline before the engine: RSS {mb(sim['baseline']['rss_bytes'])}. B/order counts order rows, "
               "price levels and the id index per resting order. MB = 10^6 bytes.\n")

    out.append("## Performance\n")
    out.append(_table(["figure", "value"], [
        [f"orders through matching (traded phase, {_matching_cores(sim)})", f"{si(t['orders_per_s'])} orders/s ({t['flow_orders']:,} orders)"],
        [_cancels_label(sim.get("scenario", {})), f"{t['cancels']:,} in {t['cancel_seconds']:,.2f} s"],
        ["best bid/ask lookups, random markets", f"{si(t['lookups_per_s'])}/s"],
        ["random access latency p50 / p99", f"{t['random_access_ns_p50']:,.1f} / {t['random_access_ns_p99']:,.1f} ns"],
    ]) + "\n")
    fig("latency")
    out += _stability_section(r.get("figures") or {})  # a subsection of Performance, so before the next "##"
    if lat:
        out += _latency_section(lat)
        fig("latency_under_load")

    out.append("## Capacity per hardware profile\n")
    processor = _text(plan["model"]["provenance"].get("processor", "the sweep's machine"))
    out.append(f"Required = the memory of a process holding the engine (runtime {mb(model['runtime_bytes'])}, the engine, a run's "
               f"working arrays), with the engine's part at least {q['safety']:g} × the bytes it uses ({mb(plan['engine_bytes'])}), "
               f"per engine process; usable = memory − {q['os_reserve_gib']:g} GiB for the OS. One engine runs on one core and addresses "
               f"at most 2³¹−1 order slots; a machine runs the fewest engines that hold its load and sustain its rate. Order "
               f"capacity: the profile's own measured rate where its hardware file gives one (user-given); where the profile "
               f"publishes its clock, caches and memory latency, the per-core rate model fitted on {processor} run on them "
               f"(modelled: engines share the shared caches and the memory bandwidth); otherwise one core of "
               f"{processor} as the sweep measured it (extrapolated){_calibrated(plan.get('calibration'))}, times the engines. "
               f"Highest use: the resource nearest its limit. GiB = 2^30 bytes.\n")
    rows = []
    for p in plan["profiles"]:
        rows.append([_text(p["name"]), gib(p["memory_bytes"], 3), gib(p["usable_bytes"], 3),
                     f"{gib(p['required_bytes'], 3)} ({p['required_bytes_low'] / 2**30:,.3f}–{p['required_bytes_high'] / 2**30:,.3f})",
                     "yes" if p["fits"] else "no", _text(memory_verdict(p)), f"{p['max_markets']:,}", str(p["engines_per_machine"]),
                     f"{si(p['order_capacity_per_s'])}/s ({_text(p['rate_source'])})", _text(highest_use_text(p)),
                     machines_text(p["machines"]), price(p["price_usd"], p["price_usd_hour"]),
                     "—" if p["yearly_cost_usd"] is None else f"${p['yearly_cost_usd']:,.0f}"])
    out.append(_table(["profile", "memory", "usable", "required (95%)", "fits", "headroom", "max markets", "engines", "order capacity",
                       "highest use", "machines", "price", "per year"], rows) + "\n")
    for key, unit in (("cluster", "cluster_price_usd"), ("cluster_cloud", "cluster_price_usd_hour")):
        c = plan.get(key)
        if c and c["machines"] > 1:
            money = f"${c[unit]:,.0f}" if unit == "cluster_price_usd" else f"${c[unit]:,.2f}/h"
            out.append(f"Sharded instead: {c['machines']} × {_text(c['profile'])} plus one spare ({money}).\n")
    fig("headroom")

    out.append("## Scaling projections\n")
    out.append(f"The cost model, fitted on {fit['n_points']} sweep points (R² {fit['r2']:.6f}): engine bytes = "
               f"{coef['base']:,.0f} + {coef['markets']:,.1f}·markets + {coef['resting_orders']:,.2f}·resting orders + "
               f"{coef['trades_retained']:,.2f}·trades retained.\n")
    rows = [[term, f"{c['value']:,.2f}", f"{c['ci95'][0]:,.2f} … {c['ci95'][1]:,.2f}"] for term, c in fit["coefficients"].items()]
    out.append(_table(["term", "coefficient (bytes)", "95% interval"], rows) + "\n")
    if model.get("validation"):
        rows = [[f"{v['markets']:,}", mb(v["predicted_bytes"]), mb(v["measured_bytes"]), f"{v['error_pct']:+.2f}%",
                 ", ".join(f"{m:,}" for m in v.get("fitted_on_markets", []))] for v in model["validation"]]
        out.append("Validation: the model fitted on the smaller sizes only, predicting sizes it never saw:\n")
        out.append(_table(["markets", "predicted", "measured", "error", "fitted on"], rows) + "\n")
    rows = [[f"{row['markets']:,}" + (" †" if row["extrapolated"] else ""), f"{row['orders_per_market']:,.1f}", gib(row["required_bytes"], 3),
             f"{row['required_bytes_low'] / 2**30:,.3f}–{row['required_bytes_high'] / 2**30:,.3f} GiB", _text(row["smallest_fit"]) if row["smallest_fit"] else "none: shard it"]
            for row in plan["scaling"]]
    out.append(_table(["markets", "orders/market", "required", "95% interval", "smallest fit"], rows, right={0, 1, 2, 3}) + "\n")
    out.append(f"† beyond the largest size measured ({model['largest_markets']:,} markets): an extrapolation.\n")
    fig("memory_vs_markets")
    out.extend(_threads_scaling(model.get("scaling")))

    b = sim.get("breakdown")
    if b:
        out.append("## Memory per market\n")
        names = [_text(b["all"]["name"])] + [_text(row["name"]) for row in b["tiers"]]
        rows_src = [b["all"], *b["tiers"]]
        rows = [[_text(label)] + [f"{row['bytes_mean'][key]:,.1f}" for row in rows_src] for key, label in b["components"].items()]
        rows.append(["**total**"] + [f"**{row['total_mean']:,.1f}**" for row in rows_src])
        rows.append(["resting orders"] + [f"{row['resting_orders_mean']:,.1f}" for row in rows_src])
        out.append("Mean bytes used per market after trading, by component, over all markets and per tier (adds up to the "
                   "engine's bytes used):\n")
        out.append(_table(["component", *names], rows) + "\n")
        fig("breakdown")
        fig("depth_by_rank")
        d = sim.get("distributions", {})
        if "trades_top_share" in d:
            out.append(f"The most active {d['top_market_share']:.0%} of markets printed {d['trades_top_share']:.1%} of the trades.\n")
        fig("flow_lorenz")

    shards = sim.get("shards") or []
    if shards:
        execution = sim.get("execution", {})
        where = "on Dask workers" if execution.get("mode") == "dask" else "in one process"
        out.append("## Shards\n")
        out.append(f"{sim['markets']:,} markets in {len(shards)} shards {where}, {_text(execution.get('assignment', ''))}; the same run as in "
                   f"one process: market checksum `{(sim.get('market_checksum') or 'incomplete')[:16]}…`, whatever the shard count.\n")
        rows = []
        for part in shards:
            if part.get("error"):
                rows.append([str(part["shard"]), f"{part['markets']:,}", f"failed: {_text(part['error'])}", "", "", "", "", ""])
                continue
            rows.append([str(part["shard"]), f"{part['markets']:,}", f"{part['expected_flow_share']:.1%}", f"{part['resting_orders']:,}",
                         f"{part['trades']:,}", mb(part["engine_bytes_used"]), mb(part["peak_rss_bytes"]) if part["peak_rss_bytes"] else "—",
                         f"{si(part['orders_per_s'])}/s"])
        out.append(_table(["shard", "markets", "expected flow", "resting orders", "trades", "engine used", "peak RSS", "orders/s"], rows) + "\n")
        if sim.get("failed_shards"):
            out.append(f"**Failed shards**: {', '.join(str(k) for k in sim['failed_shards'])}; the figures cover the others.\n")

    out.append("## Method\n")
    scenario = sim.get("scenario", {})
    prov = model.get("provenance", {})
    out.append("\n".join([
        f"- Simulation: seed {sim['seed']}; phases empty, seeded (tiered depth), traded (maker/taker flow, Zipf activity, "
        f"Pareto sizes) until {scenario.get('trades', traded.trades):,} fills; {_depth_policy(scenario)}.",
        "- Memory: the engine's own bytes, computed from its arrays (used = live rows, reserved = allocated); process RSS after "
        "three garbage-collection passes, median of five samples; the baseline is sampled before the engine exists.",
        "- Throughput: wall time of the matching calls only, one core; lookups are best bid/ask of random markets; random "
        "access is a dependent chain of best-bid reads timed with the CPU cycle counter in runs of 16.",
        *([f"- Latency under load: a fresh engine seeded with the same scenario; each order timed alone on the CPU cycle counter "
           f"(service time), then {lat['orders_per_rate']:,} orders offered at each rate, open loop: each order's latency is its "
           "completion minus its arrival, both read from the cycle counter, on one core."] if lat else []),
        f"- Repeats: this report's simulation is one run (seed {sim['seed']}; the same seed gives the same books and trades, "
        f"market checksum `{(sim.get('market_checksum') or 'incomplete')[:16]}…`); its rates are single measurements on a shared machine. "
        f"The cost model's sweep measured each size and design variant {_text(str(prov.get('command') or '').partition('--repeat ')[2].split(' ')[0] or 'several')} times.",
        f"- Cost model: {_code(prov.get('command', 'lxdex sweep'))} ({_text(prov.get('created', '?'))}, {_text(prov.get('processor', '?'))}): each point in a fresh "
        "process; ordinary least squares, Student-t intervals.",
        f"- Versions: lxdex-capacity {_text(env['lxdex_capacity'])}, Python {_text(env['python'])}, numpy {_text(env['numpy'])}, "
        f"numba {_text(env['numba'])}; {_text(env['platform'])}.",
    ]) + "\n")

    out.append("## Assumptions and risks\n")
    risks = [
        f"Required memory multiplies the engine's bytes by {q['safety']:g}: the pools double when full, so a process can hold up to "
        f"twice what its books use (the sweep measured reserved/used up to {model['reserved_ratio']['max']:.2f}).",
        f"The OS and everything else are assumed to need {q['os_reserve_gib']:g} GiB per machine.",
        f"Order capacity is this machine's one-core rate ({_text(env['processor'])}) times each profile's performance cores; Apple and "
        "other cores differ, and cores share memory bandwidth. Treat it as an order of magnitude.",
        "Orders per market default to the tier table's mean at each size; a real exchange's depth distribution should be measured. "
        "The flow's order sizes, maker distance, taker share and reach, and cancel rate can be fitted to a real day: "
        "`lxdex calibrate DAY.zip --out day.toml` (a LOBSTER zip, or its message file with `--orderbook`), then "
        "`lxdex report --scenario day.toml --out DIR` reports on that flow.",
        "Prices are US list prices at launch of the cheapest configuration with that chip and memory.",
    ]
    extrapolated = [row["markets"] for row in plan["scaling"] if row["extrapolated"]]
    if extrapolated or plan["model"]["extrapolated"]:
        risks.insert(0, f"**Extrapolation**: sizes above {model['largest_markets']:,} markets "
                        f"({', '.join(f'{m:,}' for m in extrapolated) or q['markets']}) were never measured; their figures are model "
                        "projections with 95% intervals that assume the linear model holds beyond its data.")
    out.append("\n".join(f"- {risk}" for risk in risks) + "\n")
    return "\n".join(out)


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
code {{ background: #f3f3f3; padding: 0 0.2em; }}
</style></head><body>
{body}
</body></html>
"""


def render_html(markdown_text: str, title: str) -> str:
    """Self-contained HTML from the report's Markdown (charts already inlined as data URIs)."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"], output_format="html")
    return _HTML.format(title=html.escape(title), body=body)


# What a report folder holds: these, and in charts/ each chart's files (CHART_FORMATS).  A folder holding
# anything else is not a report: refused before a report starts, and kept if it appears while one is written.
REPORT_FILES = frozenset({"report.md", "report.html", "results.json", "charts"})
CHART_FORMATS = ("png", "svg")


def is_report_part(relative: Path) -> bool:
    """Whether ``relative``, a path inside a report folder, is part of a report (hidden files are not: .git, .env)."""
    parts = relative.parts
    if len(parts) == 1:
        return parts[0] in REPORT_FILES
    if len(parts) == 2 and parts[0] == "charts":
        from .charts import CHARTS  # matplotlib's import: only when a charts folder is there to look into

        stem, _, suffix = parts[1].rpartition(".")
        return stem in CHARTS and suffix in CHART_FORMATS
    return False


def _current_folder() -> Path | None:
    """The current folder, or None if it was deleted (then no report folder can hold it)."""
    try:
        return Path.cwd().resolve()
    except FileNotFoundError:
        return None


def check_report_folder(out_dir: str | Path, foreign: bool = False) -> Path:
    """``out_dir`` as a folder a report may be written to: new, empty, or a previous report (which the
    new one replaces whole), checked before any work starts.  With ``foreign``, a folder holding other
    files too (put there since that first check: they are kept, see :func:`write_report`)."""
    out = check_output_folder(out_dir)
    here = _current_folder()
    if here is not None and here.is_relative_to(out.resolve()):
        raise InputError(f"--out {str(out)!r} is the current folder or holds it; a report replaces its whole folder, "
                         "so give a folder of its own, e.g. --out report")
    if out.is_dir() and not foreign:
        found = foreign_entries(out, is_report_part)
        if found:
            raise InputError(f"--out {str(out)!r} holds {str(found[0])!r}, which is not part of a report; a report "
                             "replaces its whole folder, so give a new folder, an empty one, or a previous report's")
    return out


def _say_kept(out: Path, foreign: list[Path], left: Path | None) -> None:
    """One line on stderr: files put into the report folder while the report ran, kept (not deleted)."""
    from ..console import warn

    names = ", ".join(repr(str(p)) for p in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
    if left is None:
        warn(f"--out {str(out)!r}: kept {names}, put there while the report ran and not part of it; "
             "the next report into this folder refuses it until it is moved out")
    else:
        warn(f"--out {str(out)!r}: {names}, put there while the report ran, could not be moved into it; "
             f"the previous folder is kept whole as {str(left)!r}")


def write_report(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, report.html, results.json and charts/ as the folder ``out_dir``; return the paths.

    The folder is built beside ``out_dir`` and swapped in whole (:func:`~lxdex_capacity.atomic.replaced_folder`):
    a reader sees the previous report or this one, never a mix; if anything fails (a full disk, a
    signal), the previous report stays as it was.  Two runs into one folder: the last to finish wins.
    A file that is not part of a report, put into the folder while this one ran, is kept (moved
    into the new folder) and one line on stderr says so."""
    from .charts import render_charts

    out = check_report_folder(out_dir, foreign=True)  # refused before the work began; what came since is kept
    charts = render_charts(results)
    md = render_markdown(results, charts, image=lambda name: f"charts/{name}.png")
    inline = render_markdown(results, charts, image=lambda name: "data:image/png;base64," + base64.b64encode(charts[name]["png"]).decode())
    html_text = render_html(inline, f"Capacity report: {results['simulate']['markets']:,} markets")
    results_text = strict_json(results, indent=1) + "\n"
    files: dict[str, bytes] = {f"charts/{name}.{fmt}": rendered[fmt] for name, rendered in charts.items() for fmt in CHART_FORMATS}
    files |= {"results.json": results_text.encode(), "report.md": md.encode(), "report.html": html_text.encode()}
    with replaced_folder(out.resolve(), is_report_part, lambda foreign, left: _say_kept(out, foreign, left)) as building:
        make_folder(building / "charts")
        for relative, data in files.items():
            write_bytes_atomic(building / relative, data)
    return {Path(relative).name: out / relative for relative in files}
