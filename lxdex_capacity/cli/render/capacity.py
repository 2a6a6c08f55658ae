"""``lxdex sweep``, ``lxdex plan`` and ``lxdex hardware list/show/compare``.

Names and texts from a user's files (profile names, chips, sources, the model's processor) are
escaped, so a ``[`` in them is printed, not read as rich markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from ...capacity.model import NO_SCALING, speedup_suffix
from ...capacity.plan import (
    MODELLED,
    SLO_RATE_SOURCE,
    SWEPT_THERE,
    highest_use_text,
    machines_text,
    memory_verdict,
    recommendation_text,
    use_pct,
)
from ...console import Table, cell_width, gib, mb, out, price, si
from ...units import binary_bytes, duration_text
from .figures import status_cell, value_with_interval, verdict_cell

if TYPE_CHECKING:
    from ...capacity.hardware import HardwareProfile

__all__ = ["print_sweep", "print_scaling", "print_plan", "print_latency_slo", "print_check", "print_hardware_list", "print_hardware_show", "print_hardware_compare"]

GIB = 2**30


def print_sweep(r: dict[str, Any]) -> None:
    """A sweep's report (``SweepResult.as_dict()`` and ``model_file``): points, model, validation."""
    points = Table(title="sweep points — engine bytes used after trading, each in a fresh process")
    for name in ("markets", "variant", "seed", "resting orders", "trades retained", "measured MB", "model MB", "residual", "RSS MB", "orders/s"):
        points.add_column(name, justify="left" if name == "variant" else "right", key=name in ("markets", "variant"))
    for p in r["points"]:
        points.add_row(f"{p['markets']:,}" + (" *" if p["held_out"] else ""), p["variant"], str(p["seed"]), f"{p['resting_orders']:,}",
                       f"{p['trades_retained']:,}", f"{p['bytes'] / 1e6:,.2f}", f"{p['predicted_bytes'] / 1e6:,.2f}",
                       f"{100 * p['residual_bytes'] / p['bytes']:+.2f}%", f"{p['rss_bytes'] / 1e6:,.1f}", si(p["orders_per_s"], "/s"))
    out.print(points)
    out.print("* held out of the validation fit. MB = 10^6 bytes.")
    model = r["model"]
    coefs = Table(title=f"model (all points): R² {model['r2']:.6f}, residual std {mb(model['fit']['residual_std_bytes'])}, {model['fit']['dof']} degrees of freedom")
    for name in ("term", "coefficient", "95% interval", "unit"):
        coefs.add_column(name, justify="left" if name in ("term", "unit") else "right", key=name == "term")
    units = {"base": "bytes", "markets": "bytes per market", "resting_orders": "bytes per resting order", "trades_retained": "bytes per trade retained"}
    for term, c in model["coefficients"].items():
        coefs.add_row(term, f"{c['value']:,.2f}", f"{c['ci95'][0]:,.2f} … {c['ci95'][1]:,.2f}", units[term])
    out.print(coefs)
    out.print(f"runtime (interpreter, numpy, numba, kernels): {mb(model['runtime_bytes'])} resident; engine reserved/used "
              f"median {model['reserved_ratio']['median']:.2f}, max {model['reserved_ratio']['max']:.2f}; model written to {r['model_file']}")
    v = r["validation"]
    if v.get("held_out"):
        val = Table(title=f"validation — fitted on points up to {v['fit_up_to_markets']:,} markets, predicting the larger sizes")
        for name in ("markets", "predicted MB", "measured MB", "error"):
            val.add_column(name, justify="right")
        for row in v["held_out"]:
            val.add_row(f"{row['markets']:,}", f"{row['predicted_bytes'] / 1e6:,.2f}", f"{row['measured_bytes'] / 1e6:,.2f}", f"{row['error_pct']:+.2f}%")
        out.print(val)
    scaling = r.get("scaling")
    if scaling:
        print_scaling(scaling)
    else:
        out.print("scaling with threads: not measured (--threads-up-to 1); plan will take cores × one core, an upper bound")
    if r.get("core_rate"):
        print_core_rate(r["core_rate"])
    else:
        out.print("per-core rate model: not measured (--working-sets none); plan extrapolates this machine's rate to every profile")


def print_core_rate(c: dict[str, Any]) -> None:
    """The per-core rate model (:meth:`~lxdex_capacity.capacity.core_rate.CoreRateModel.as_dict`): this machine's
    hierarchy as measured, the engine's ns per order by working set against the fit, and the held-out errors."""
    h = c["hierarchy"]
    levels = Table(title=f"memory hierarchy — measured by pointer chases on one core; clock {h['clock_ghz']:.2f} GHz "
                         f"(dependent multiplies), {h['line_bytes']} B lines, {h['misses_in_flight']:.1f} misses in flight per core")
    for name in ("level", "reported", "holds (random lines)", "latency", "shared by"):
        levels.add_column(name, justify="left" if name == "level" else "right", key=name == "level")
    for lv in h["levels"]:
        levels.add_row(lv["name"], binary_bytes(lv["reported_bytes"]) if lv["reported_bytes"] else "—",
                       binary_bytes(lv["capacity_bytes"]) if lv["capacity_bytes"] else "all",
                       f"{lv['latency_ns']:.3g} ns", str(lv["shared_by"]) if lv["shared_by"] else "—")
    out.print(levels)
    fit = c["fit"]
    table = Table(title=f"engine by working set — ns per order (median, range), predicted by ns = {fit['compute_ns']:.1f} + "
                        f"{fit['serial_lines']:.2f} x expected line latency; R² {fit['r2']:.3f}")
    for name in ("markets", "engine MB", "measured ns", "range", "runs", "predicted ns", "error"):
        table.add_column(name, justify="right", key=name == "markets")
    predicted = {v["markets"]: v for v in c["validation"]}
    for p in c["points"]:
        v = predicted.get(p["markets"])
        table.add_row(f"{p['markets']:,}" + (" *" if p["held_out"] else ""), f"{p['engine_bytes'] / 1e6:,.1f}", f"{p['ns_per_order']:,.1f}",
                      f"{p['low']:,.0f}–{p['high']:,.0f}", str(p["runs"]), f"{v['predicted_ns']:,.1f}" if v else "",
                      f"{v['error_pct']:+.1f}%" if v else "")
    out.print(table)
    held = ", ".join(f"{v['markets']:,} markets {v['error_pct']:+.1f}%" for v in c["validation"]) or "none held out"
    overlapped = f"{fit['parallelism']:.1f}" if fit.get("parallelism") else "none"
    out.print(f"* held out of the fit and predicted: {held} (target ±15%). compute {fit['compute_ns']:.1f} ns an order at "
              f"{h['clock_ghz']:.2f} GHz; {fit['serial_lines']:.2f} serial line latencies an order (of ~{fit.get('lines_touched_per_order', 7):g} "
              f"lines touched: {overlapped} overlapped); rms error over the fitted points {fit['rms_error_pct']:.1f}%.")


def print_scaling(s: dict[str, Any]) -> None:
    """The model's ``scaling`` section: orders/s by threads, the speedups and the USL fitted to them."""
    table = Table(title=f"scaling with threads — traded phase, {s['markets']:,} markets, each run in a fresh process pinned to its cores")
    for name in ("threads", "orders/s (median)", "low … high", "runs", "speedup", "efficiency"):
        table.add_column(name, justify="right")
    for m in s["measured"]:
        table.add_row(str(m["threads"]), si(m["orders_per_s"], "/s"), f"{si(m['low'])} … {si(m['high'])}", str(m["runs"]),
                      f"{m['speedup']:.2f}×", f"{100 * m['efficiency']:.0f}%")
    out.print(table)
    fit = s["fit"]
    out.print(f"every thread count made the same trades (market and tape checksums); Universal Scalability Law fitted to the "
              f"speedups: speedup(N) = N / (1 + sigma*(N-1) + kappa*N*(N-1)), sigma={fit['sigma']:.4g}, kappa={fit['kappa']:.4g}; "
              "plan takes the measured speedups up to the most threads measured, the fit beyond")


_RATE_MARK = {"extrapolated": "e", "user-given": "u", "measured here": "m", SLO_RATE_SOURCE: "s", MODELLED: "h", SWEPT_THERE: "w"}


def highest_use(p: dict[str, Any]) -> str:
    """:func:`~lxdex_capacity.capacity.plan.highest_use_text`, in red when the resource runs out."""
    text = highest_use_text(p)
    return f"[red]{text}[/]" if use_pct(p, p["bottleneck"]) > 100 else text


def print_plan(r: dict[str, Any]) -> None:
    """A plan (:func:`lxdex_capacity.capacity.plan.plan`): the load, what it costs, a row per profile,
    the scaling table, and the recommendation last."""
    q, m, load, e = r["request"], r["model"], r["load"], r["estimate"]
    slo = r.get("latency_slo")  # plan --latency-slo
    unmet = slo is not None and not slo["met"]
    unknown = unmet and slo is not None and slo.get("outcome") == "too noisy to call"  # the search could not tell
    plan_markets = 10**12  # MAX_PLAN_MARKETS: a plan's max_markets stops there
    tape = "one engine's tape capacity" if load["trades_retained_source"] != "given" else "given"
    out.print(f"[bold]{load['markets']:,} markets[/], {load['orders_per_market']:,.1f} resting orders per market "
              f"({load['resting_orders']:,.0f} in all), {load['trades_retained']:,} trades retained ({tape}), "
              f"{load['order_rate']:,.0f} orders/s to sustain"
              + (f"; [yellow]extrapolated beyond the largest measured size ({m['largest_markets_measured']:,} markets)[/]" if m["extrapolated"] else ""))
    out.print(f"predicted: engine bytes used {mb(e['engine_bytes_used']['bytes'])}, reserved {mb(e['engine_bytes_reserved']['bytes'])}; "
              f"a process holding it {mb(e['process_rss']['bytes'])} resident (runtime {mb(e['runtime_bytes'])}); "
              f"required = that process with the engine at least {q['safety']:g} x its bytes used, per engine process; "
              f"usable = memory - {q['os_reserve_gib']:g} GiB for the OS. Check it here: lxdex plan --check")
    columns = ("profile", "GiB", "required", "fits", "headroom", "max markets", "engines", "orders/s", "highest use", "machines", "$/year")
    rows, marks = [], set()
    for p in r["profiles"]:
        mark = _RATE_MARK.get(p["rate_source"], "?")
        marks.add(p["rate_source"])
        required = f"{p['required_bytes'] / GIB:,.3f} ({p['required_bytes_low'] / GIB:,.3f}–{p['required_bytes_high'] / GIB:,.3f})"
        rows.append((escape(p["name"]), f"{p['memory_bytes'] / GIB:,.4g}", required,
                     "[green]yes[/]" if p["fits"] else "[red]no[/]", memory_verdict(p),
                     f"{p['max_markets']:,}" + ("+" if p["max_markets"] >= plan_markets else ""), str(p["engines_per_machine"]),
                     (("[yellow]unknown[/] " if unknown else "[red]unmet[/] ") if unmet and p["rate_source"] == SLO_RATE_SOURCE
                      else f"{si(p['order_capacity_per_s'])} ") + mark,
                     highest_use(p), machines_cell(p["machines"]),
                     "—" if p["yearly_cost_usd"] is None else f"${p['yearly_cost_usd']:,.0f}"))
    title = "plan per hardware profile — GiB = 2^30 bytes; required (its 95% interval); highest use: the resource nearest its limit"
    table = _plan_table(title, columns, rows)
    if table.natural_width(out) <= out.width:
        out.print(table)
    else:  # too narrow for one table: memory, then order rate and cost, each row under its profile's whole name
        for part, names in (("memory", columns[:6]), ("order rate and cost", (columns[0], *columns[6:]))):
            picked = [columns.index(name) for name in names]
            out.print(_plan_table(f"{title} ({part})", names, [tuple(row[i] for i in picked) for row in rows]))
    legend = {"extrapolated": f"e = extrapolated: one core of {escape(str(m['provenance'].get('processor', 'the sweep machine')))} "
                              "measured by lxdex sweep, at the markets each engine holds"
                              + (f", {escape(_calibration_text(r['calibration']))}" if r.get("calibration") else "")
                              + ", x the speedup of the engines' cores",
              "user-given": "u = user-given (orders_per_s_per_core in the hardware file)",
              SWEPT_THERE: "w = measured on this chip by the sweep that wrote the model (it beats a model of its published figures)",
              MODELLED: "h = modelled from the profile's clock, caches and memory latency by the per-core rate model fitted on "
                        f"{escape(str(m['provenance'].get('processor', 'the sweep machine')))} (figures and why below)",
              "measured here": "m = measured on this machine now (plan --check, or the report's simulation)",
              SLO_RATE_SOURCE: "s = the latency SLO's rate per core, measured here (below)"
                               + ((": too noisy to call" if unknown else ": none meets it") if unmet else "")}
    out.print("headroom: the share of usable memory left; short: GiB missing; needs Nx: N times the usable memory. "
              "orders/s: the engines' order capacity; " + "; ".join(legend[s] for s in sorted(marks) if s in legend)
              + ". machines: 1 when one holds the load (no spare), else N+1: N sharing it and a spare. "
              "$/year: one machine's purchase price over 3 years, or its hourly price x 8,760 hours.")
    print_modelled(r["profiles"])
    print_speedups(r["profiles"])
    if slo is not None:
        print_latency_slo(slo)
    for key, unit in (("cluster", "price_usd"), ("cluster_cloud", "price_usd_hour")):
        c = r[key]
        if c and c["machines"] > 1:
            total = c.get("cluster_price_usd", c.get("cluster_price_usd_hour"))
            money = f"${total:,.0f}" if unit == "price_usd" else f"${total:,.2f}/h"
            out.print(f"sharded: {c['machines_n_plus_1']} x {escape(c['profile'])} ({c['machines']} + 1 spare, {money}); each holds up to "
                      f"{c['machine_markets']:,} markets and needs {gib(c['machine_required_bytes'])}")
    scaling = Table(title="scaling: memory required and the smallest configuration that holds it (memory and order rate)")
    for name in ("markets", "orders/market", "required", "95% interval", "smallest fit"):
        scaling.add_column(name, justify="left" if name == "smallest fit" else "right", key=name in ("markets", "smallest fit"))
    for row in r["scaling"]:
        scaling.add_row(f"{row['markets']:,}" + (" †" if row["extrapolated"] else ""), f"{row['orders_per_market']:,.1f}", gib(row["required_bytes"], 3),
                        f"{row['required_bytes_low'] / GIB:,.3f}–{row['required_bytes_high'] / GIB:,.3f} GiB", escape(row["smallest_fit"] or ("none (latency SLO unmet)" if unmet else "none (shard it)")))
    out.print(scaling)
    if any(row["extrapolated"] for row in r["scaling"]):
        out.print(f"† beyond the largest size the model was measured at ({m['largest_markets_measured']:,} markets).")
    if unmet and r["recommendation"] is None:
        why = ("the latency SLO's search was too noisy to call on this machine" if unknown
               else "no rate per core meets the latency SLO on this machine")
        out.print(f"[bold]recommendation:[/] none: {why}, so no profile's order capacity within it is known (the memory figures stand)")
    else:
        out.print(f"[bold]recommendation:[/] {escape(recommendation_text(r['recommendation'], load['markets'], r.get('calibration')))}")


def machines_cell(machines: int | None) -> str:
    """:func:`~lxdex_capacity.capacity.plan.machines_text`."""
    return machines_text(machines)


def _plan_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title)
    for name in columns:
        table.add_column(name, justify="left" if name in ("profile", "highest use") else "right", key=name == "profile")
    for row in rows:
        table.add_row(*row)
    return table


def _calibration_text(c: dict[str, Any]) -> str:
    return (f"scaled x{c['factor']:.2f} to this machine's {c['measured_per_s']:,.0f} orders/s per core at {c['markets']:,} markets "
            f"measured by {c['source']} (measured beats extrapolated; the model says {c['model_per_s']:,.0f})")


def print_modelled(profiles: list[dict[str, Any]]) -> None:
    """One row per chip whose rate was modelled: its rate per core alone and shared, the share of the flow its last
    cache holds, and why (a profile per memory size shares its chip's row)."""
    seen: dict[str, dict[str, Any]] = {}
    for p in profiles:
        rm = p.get("rate_model")
        if p["rate_source"] != MODELLED or rm is None:
            continue
        chip = p["name"].rsplit(" ", 2)[0] if p["name"].endswith(" GB") else p["name"]
        seen.setdefault(chip, p)
    if not seen:
        return
    table = Table(title="modelled rates per core — the per-core rate model on each chip's published clock, caches and DRAM latency")
    for name in ("chip", "markets/engine", "alone", "engines", "shared", "why"):
        table.add_column(name, justify="left" if name in ("chip", "why") else "right", key=name == "chip")
    for chip, p in seen.items():
        rm = p["rate_model"]
        alone, shared = p["orders_per_s_per_core"], p["order_capacity_per_s"] / max(p["cores"], 1)
        table.add_row(escape(chip), f"{rm['markets_per_engine']:,.0f}", si(alone, "/s"), str(rm["engines_sharing"]), si(shared, "/s"),
                      escape(rm["why"]))
    out.print(table)


def print_speedups(profiles: list[dict[str, Any]]) -> None:
    """Where each profile's multi-core order capacity came from: a line per source (measured, the USL
    fit beyond the threads measured, or linear), with the speedup at each number of cores planned."""
    groups: dict[str, dict[int, tuple[float, int]]] = {}
    for p in profiles:
        if p.get("scaling_basis") is None:  # a plan made before the scaling curve was
            continue
        suffix = speedup_suffix(p["speedup"], p["cores"])
        where = p["scaling_basis"].removesuffix(suffix)
        speedup, count = groups.setdefault(where, {}).get(p["cores"], (p["speedup"], 0))
        groups[where][p["cores"]] = speedup, count + 1
    if not groups:
        return
    out.print("order capacity = the rate per core x the speedup of the engines' cores:")
    for where, at in groups.items():
        if where == NO_SCALING:
            out.print(f"  [yellow]{escape(where)}[/]")
            continue
        speedups = ", ".join(f"{s:.2f}× at {c} core{'s' if c != 1 else ''} ({n} profile{'s' if n != 1 else ''})" for c, (s, n) in sorted(at.items()))
        out.print(f"  {escape(where)}: {speedups}")


def print_latency_slo(s: dict[str, Any]) -> None:
    """``plan --latency-slo``: the offered rates the search tried, the SLO's statistic of each run, the interval of their
    median, and each rate's verdict; then the search's verdict."""
    where = f"{s['markets']:,} markets" + (f" (the most of the planned {s['planned_markets']:,} this machine holds)"
                                           if s["markets"] < s["planned_markets"] else "")
    table = Table(title=f"latency SLO {escape(s['slo'])}: the rates tried on one core here")
    for name in ("messages/s offered", f"{s['statistic']} of each run", "median (interval)", "status", "verdict"):
        table.add_column(name, justify="left" if name in ("status", "verdict") else "right")
    for p in sorted(s["points"], key=lambda p: p["rate_per_s"]):
        verdict = p.get("verdict") or ("holds" if p["holds"] else "fails")
        low, high = p.get("low_ns"), p.get("high_ns")
        median = duration_text(p["median_ns"]) + (f" ({duration_text(low)}–{duration_text(high)})" if low is not None and high is not None
                                                  and low != high else "")
        status = p.get("status") or ""
        table.add_row(f"{p['rate_per_s']:,.0f}", ", ".join(duration_text(v) for v in p["values_ns"]), median,
                      status_cell(status) if status else "", verdict_cell(verdict))
    out.print(table)
    beyond = s.get("beyond_per_run")
    samples = (f"{s['orders_per_offer']:,} messages per run ({beyond:,} beyond the {s['statistic']})" if beyond and s["statistic"] != "max"
               else f"{s['orders_per_offer']:,} messages per run")
    service = s.get("service_capacity_per_s")
    out.print(f"{where}, {samples}, Poisson arrivals; at least {s['repeats']} runs a rate, more until the interval of their median "
              f"decides; capacity measured in the same run (every message at once) {si(s['capacity_per_s'], 'messages/s')}"
              + (f", one at a time {si(service, 'messages/s')}" if service else "")
              + f"; {s['offers']} runs in {s['seconds']:,.1f} s", highlight=False)
    outcome = s.get("outcome") or ("holds" if s["met"] else "fails")
    colour = {"holds": "green", "fails": "red"}.get(outcome, "yellow")
    out.print(f"[bold]SLO verdict:[/] [{colour}]{escape(s['verdict'])}[/]")


def print_check(c: dict[str, Any]) -> None:
    """``plan --check``: each predicted figure against the run here, its error and its target."""
    title = f"plan --check: predicted against measured, {c['markets']:,} markets run in a fresh process on this machine"
    table = Table(title=title)
    for name in ("figure", "predicted", "measured", "error", "target", "met"):
        table.add_column(name, justify="left" if name in ("figure", "target") else "right", key=name == "figure")
    for row in c["rows"]:
        fmt = (lambda v: mb(v)) if row["unit"] == "bytes" else (lambda v: si(v, "/s"))
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[row["passed"]]
        if row.get("verdict"):
            met = verdict_cell(row["verdict"])
        error = f"{100 * row['predicted'] / row['measured']:,.0f}% of it" if row["target"].startswith("1x") else f"{row['error_pct']:+.1f}%"
        measured = fmt(row["measured"])
        if row.get("measurement"):
            m = row["measurement"]
            measured = f"{value_with_interval(m, lambda v: si(v, '/s'))} {status_cell(m)}"
        table.add_row(row["figure"], fmt(row["predicted"]), measured, error, row["target"], met)
    out.print(table)
    if c["note"]:
        out.print(f"[yellow]{escape(c['note'])}[/]")
    if c["validation"]:
        val = Table(title="the model's held-out validation: fitted on smaller sizes, then measured at these")
        for name in ("markets", "predicted", "measured", "error"):
            val.add_column(name, justify="right")
        for v in c["validation"]:
            val.add_row(f"{v['markets']:,}", mb(v["predicted_bytes"]), mb(v["measured_bytes"]), f"{v['error_pct']:+.2f}%")
        out.print(val)
    out.print("RSS = resident memory after the traded phase; peak = the process's largest RSS (ru_maxrss). MB = 10^6 bytes.")


def _profile_rows(p: HardwareProfile) -> list[tuple[str, str]]:
    def maybe(value: Any, fmt: str = "{}") -> str:
        return "—" if value is None else fmt.format(value)

    return [
        ("name", escape(p.name)),
        ("kind", p.kind),
        ("machine", escape(p.machine)),
        ("chip", escape(p.chip)),
        ("year", maybe(p.year)),
        ("CPU", escape(p.cpu)),
        ("P / E cores", f"{p.p_cores} / {p.e_cores}"),
        ("GPU cores", maybe(p.gpu_cores)),
        ("memory", f"{p.memory_gib:g} GiB ({p.memory_bytes:,} bytes)"),
        ("memory options", ", ".join(f"{g:g}" for g in p.memory_options_gib) + " GiB"),
        ("bandwidth", maybe(p.bandwidth_gb_s, "{:g} GB/s (decimal)")),
        ("max power", maybe(p.max_power_w, "{:g} W")),
        ("launch price", maybe(p.price_usd, "${:,.0f}")),
        ("price per hour", maybe(p.price_usd_hour, "${:,.4f}")),
        ("orders/s per core", maybe(p.orders_per_s_per_core, "{:,.0f} (user-given)")),
        ("memory hierarchy", escape(p.memory.describe()) if p.memory is not None else "—"),
        ("source", escape(p.source)),
        ("hierarchy source", maybe(p.hierarchy_source and escape(p.hierarchy_source))),
    ]


def print_hardware_list(profiles: list[HardwareProfile]) -> None:
    """Every profile, a row each: memory, bandwidth, cores, power and price."""
    table = Table(title=f"{len(profiles)} hardware profiles — memory in GiB (Apple's GB), bandwidth in decimal GB/s")
    for name in ("profile", "year", "P+E cores", "GPU", "memory GiB", "GB/s", "max W", "price"):
        table.add_column(name, justify="left" if name == "profile" else "right", key=name == "profile")
    for p in profiles:
        table.add_row(escape(p.name), str(p.year or "—"), f"{p.p_cores}+{p.e_cores}", "—" if p.gpu_cores is None else str(p.gpu_cores),
                      f"{p.memory_gib:g}", "—" if p.bandwidth_gb_s is None else f"{p.bandwidth_gb_s:g}",
                      "—" if p.max_power_w is None else f"{p.max_power_w:g}", price(p.price_usd, p.price_usd_hour))
    out.print(table)


def print_hardware_show(profile: HardwareProfile) -> None:
    """One profile, every field, with its source."""
    table = Table(title=escape(profile.name), show_header=False)
    table.add_column("field", key=True)
    table.add_column("value")
    for field, value in _profile_rows(profile):
        table.add_row(field, value)
    out.print(table)


def print_hardware_compare(profiles: list[HardwareProfile]) -> None:
    """Profiles side by side, a column each (and the price per GiB when every one has a launch price)."""
    table = Table(title="hardware profiles side by side")
    table.add_column("field", key=True)
    for p in profiles:
        table.add_column(escape(p.name), min_width=cell_width(p.name))  # the name whole on a line; the values may wrap
    rows = [_profile_rows(p) for p in profiles]
    for i, (field, _) in enumerate(rows[0]):
        if field != "name":
            table.add_row(field, *(r[i][1] for r in rows))
    per_gib = [p.price_usd / p.memory_gib for p in profiles if p.price_usd]
    if len(per_gib) == len(profiles):  # every profile has a launch price
        table.add_row("price per GiB", *(f"${v:,.2f}" for v in per_gib))
    out.print(table)
