"""The capacity commands of the ``lxdex`` CLI: ``sweep``, ``plan``, ``hardware list/show/compare`` and
``simulate --shards``.

Thin over :mod:`lxdex_capacity.capacity`; registered on the main app by :mod:`lxdex_capacity.cli`.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from .capacity.hardware import GIB
from .console import err, mb, out, si, step_progress
from .errors import InputError

__all__ = ["sweep", "plan", "hardware_app", "simulate_sharded_command"]

HARDWARE_HELP = "TOML file of extra hardware profiles ([[machine]] tables, shaped like the built-in table; see README)."
DEFAULT_SIZES = "1000,5000,21000,100000"

# Options shared by plan and report.
ORDERS_PER_MARKET = typer.Option(None, min=0, help="Mean resting orders per market (default: the tier table's mean at this size).")
TRADES_RETAINED = typer.Option(1_000_000, min=0, help="Trades kept in memory (the tape).")
ORDER_RATE = typer.Option(1_000_000, min=0, help="Orders per second the exchange must sustain.")
SAFETY = typer.Option(2.0, min=1.0, max=100.0, help="Multiplier on the engine's predicted bytes: pools double when full, so a process may hold up to twice what its books use.")
OS_RESERVE = typer.Option(4.0, min=0.0, help="GiB of each machine's memory left to the OS and everything else.")
MODEL_FILE = typer.Option(None, "--model", help="Model JSON from 'lxdex sweep' (default: the reference model shipped with the package).")
HARDWARE_FILE = typer.Option(None, "--hardware", help=HARDWARE_HELP)


def _parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part.isdigit() or int(part) < 1:
            raise InputError(f"markets={text!r} must be comma-separated positive integers, e.g. {DEFAULT_SIZES}")
        sizes.append(int(part))
    if len(set(sizes)) < 2:
        raise InputError(f"markets={text!r} must name at least two different sizes to fit a model")
    return sorted(set(sizes))


def sweep(
    markets: str = typer.Option(DEFAULT_SIZES, help="Comma-separated market counts; each point runs in a fresh process."),
    repeat: int = typer.Option(2, min=1, max=100, help="Runs per size and design variant (seeds seed, seed+1, ...)."),
    fit_up_to: Optional[int] = typer.Option(None, min=1, help="Fit the validation model on sizes up to this; larger sizes are held out and predicted (default: all but the largest)."),
    trades: int = typer.Option(1_000_000, min=1, help="Fills each point's traded phase runs until."),
    trades_retained: int = typer.Option(1 << 18, min=1024, max=1 << 28, help="Tape length (a power of two) of the default variant; the long-tape variant keeps 4x."),
    seed: int = typer.Option(0, min=0, help="Seed of the first repeat."),
    out_file: Path = typer.Option(Path("lxdex-model.json"), "--out", help="Where to write the fitted model (JSON, for 'lxdex plan --model')."),
    force: bool = typer.Option(False, "--force", help="Run even if the largest point's memory estimate exceeds available memory."),
    workers: Optional[int] = typer.Option(None, min=1, max=1024, help="Run points in parallel on a local Dask cluster of this many worker processes (needs the 'distributed' extra)."),
    scheduler: Optional[str] = typer.Option(None, help="Run points on an existing Dask cluster at this scheduler address (e.g. tcp://10.0.0.5:8786)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (points, model, validation) instead of tables."),
) -> None:
    """Measure engine bytes at several sizes, fit bytes = base + a*markets + b*orders + c*trades, validate, save."""
    from .atomic import write_text_atomic
    from .capacity.sweep import run_sweep
    from .scenarios.config import Scenario

    sizes = _parse_sizes(markets)
    if not out_file.parent.is_dir():  # found out now, not after the sweep has run
        raise InputError(f"--out {str(out_file)!r}: the directory {str(out_file.parent)!r} does not exist")
    if fit_up_to is not None and fit_up_to < sizes[0]:
        raise InputError(f"fit_up_to={fit_up_to} must be at least the smallest size ({sizes[0]:,})")
    base = Scenario(trades=trades, seed=seed, trades_retained=trades_retained)
    with ExitStack() as stack:
        client = None
        if workers is not None or scheduler is not None:
            from .distributed import dask_client

            client = stack.enter_context(dask_client(workers, scheduler))
        advance = stack.enter_context(step_progress("sweep"))
        result = run_sweep(sizes, repeat=repeat, base=base, fit_up_to=fit_up_to, advance=advance, force=force,
                           client=client, concurrent=0 if scheduler else (workers or 1))
    write_text_atomic(out_file, result.model.to_json())
    report = result.as_dict() | {"model_file": str(out_file)}
    if as_json:
        out.print_json(json.dumps(report))
        return
    _print_sweep(report)


def _print_sweep(r: dict[str, Any]) -> None:
    points = Table(title="sweep points — engine bytes used after trading, each in a fresh process")
    for name in ("markets", "variant", "seed", "resting orders", "trades retained", "measured MB", "model MB", "residual", "RSS MB", "orders/s"):
        points.add_column(name, justify="left" if name == "variant" else "right")
    for p in r["points"]:
        points.add_row(f"{p['markets']:,}" + (" *" if p["held_out"] else ""), p["variant"], str(p["seed"]), f"{p['resting_orders']:,}",
                       f"{p['trades_retained']:,}", f"{p['bytes'] / 1e6:,.2f}", f"{p['predicted_bytes'] / 1e6:,.2f}",
                       f"{100 * p['residual_bytes'] / p['bytes']:+.2f}%", f"{p['rss_bytes'] / 1e6:,.1f}", si(p["orders_per_s"], "/s"))
    out.print(points)
    out.print("* held out of the validation fit. MB = 10^6 bytes.")
    model = r["model"]
    coefs = Table(title=f"model (all points): R² {model['r2']:.6f}, residual std {mb(model['fit']['residual_std_bytes'])}, {model['fit']['dof']} degrees of freedom")
    for name in ("term", "coefficient", "95% interval", "unit"):
        coefs.add_column(name, justify="left" if name in ("term", "unit") else "right")
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


def plan(
    markets: int = typer.Option(21_000, min=1, max=10**12, help="Markets the exchange lists."),
    orders_per_market: Optional[float] = ORDERS_PER_MARKET,
    trades_retained: int = TRADES_RETAINED,
    order_rate: float = ORDER_RATE,
    safety: float = SAFETY,
    os_reserve: float = OS_RESERVE,
    model_file: Optional[Path] = MODEL_FILE,
    hardware_file: Optional[Path] = HARDWARE_FILE,
    profile_names: Optional[list[str]] = typer.Option(None, "--profile", help="Plan only for these profiles (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Which machines hold the load: memory required vs usable, headroom, max markets, bottleneck, N+1 clusters."""
    from .capacity.hardware import find_profile, load_profiles
    from .capacity.model import load_model
    from .capacity.plan import PlanRequest
    from .capacity.plan import plan as make_plan

    model = load_model(model_file)
    profiles = load_profiles(hardware_file)
    if profile_names:
        profiles = [find_profile(name, profiles) for name in profile_names]
    request = PlanRequest(markets=markets, orders_per_market=orders_per_market, trades_retained=trades_retained,
                          safety=safety, os_reserve_gib=os_reserve, order_rate=order_rate)
    report = make_plan(model, profiles, request)
    if as_json:
        out.print_json(json.dumps(report, allow_nan=False))
        return
    _print_plan(report)


def _print_plan(r: dict[str, Any]) -> None:
    q, m = r["request"], r["model"]
    out.print(f"[bold]{q['markets']:,} markets[/], {q['orders_per_market']:,.1f} resting orders per market ({q['resting_orders']:,.0f} in all), "
              f"{q['trades_retained']:,} trades retained, {q['order_rate']:,.0f} orders/s; engine bytes predicted {mb(r['engine_bytes'])}; "
              f"required = runtime {mb(m['runtime_bytes'])} + {q['safety']:g} x engine; usable = memory - {q['os_reserve_gib']:g} GiB for the OS"
              + (f"; [yellow]extrapolated beyond the largest measured size ({m['largest_markets_measured']:,} markets)[/]" if m["extrapolated"] else ""))
    table = Table(title=f"plan per hardware profile — GiB = 2^30 bytes; usable = memory - {q['os_reserve_gib']:g} GiB; required ± its 95% prediction interval")
    for name in ("profile", "GiB", "required", "±95%", "fits", "headroom", "max markets", "orders/s", "runs out first", "N+1", "price"):
        table.add_column(name, justify="left" if name in ("profile", "runs out first") else "right", no_wrap=name == "profile")
    for p in r["profiles"]:
        price = f"${p['price_usd']:,.0f}" if p["price_usd"] is not None else (f"${p['price_usd_hour']:,.2f}/h" if p["price_usd_hour"] is not None else "quote")
        half = (p["required_bytes_high"] - p["required_bytes_low"]) / 2
        table.add_row(p["name"], f"{p['memory_bytes'] / GIB:,.0f}", f"{p['required_bytes'] / GIB:,.3f}",
                      f"{half / GIB:,.3f}", "[green]yes[/]" if p["fits"] else "[red]no[/]",
                      "—" if p["headroom_pct"] is None else f"{p['headroom_pct']:,.1f}%", f"{p['max_markets']:,}",
                      si(p["order_capacity_per_s"], ""), p["bottleneck"], "—" if p["machines"] is None else f"{p['machines']}+1", price)
    out.print(table)
    if r["cheapest_fit"]:
        out.print(f"cheapest single machine that fits: [bold]{r['cheapest_fit']}[/]"
                  + (f"; cheapest cloud instance: {r['cheapest_cloud_fit']}" if r["cheapest_cloud_fit"] else ""))
    else:
        out.print("[yellow]no single priced machine holds this load[/]")
    for key, unit in (("cluster", "price_usd"), ("cluster_cloud", "price_usd_hour")):
        c = r[key]
        if c and c["machines"] > 1:
            total = c.get("cluster_price_usd", c.get("cluster_price_usd_hour"))
            money = f"${total:,.0f}" if unit == "price_usd" else f"${total:,.2f}/h"
            out.print(f"sharded: {c['machines']} x {c['profile']} (+1 spare = {c['machines_n_plus_1']}, {money}); each holds up to "
                      f"{c['machine_markets']:,} markets and needs {c['machine_required_bytes'] / GIB:,.2f} GiB")
    scaling = Table(title="scaling: memory required and the smallest configuration that fits")
    for name in ("markets", "orders/market", "required", "95% interval", "smallest fit"):
        scaling.add_column(name, justify="left" if name == "smallest fit" else "right")
    for row in r["scaling"]:
        scaling.add_row(f"{row['markets']:,}" + (" †" if row["extrapolated"] else ""), f"{row['orders_per_market']:,.1f}", f"{row['required_bytes'] / GIB:,.3f} GiB",
                        f"{row['required_bytes_low'] / GIB:,.3f}–{row['required_bytes_high'] / GIB:,.3f} GiB", row["smallest_fit"] or "none (shard it)")
    out.print(scaling)
    out.print("† beyond the largest size the model was measured at. Order capacity: one-core throughput measured on "
              f"{m['provenance'].get('processor', 'the sweep machine')} x the profile's performance cores.")


hardware_app = typer.Typer(help="Hardware profiles: buyable configurations with their sources.", no_args_is_help=True)


def _profile_rows(p: Any) -> list[tuple[str, str]]:
    def maybe(value: Any, fmt: str = "{}") -> str:
        return "—" if value is None else fmt.format(value)

    return [
        ("name", p.name),
        ("kind", p.kind),
        ("machine", p.machine),
        ("chip", p.chip),
        ("year", maybe(p.year)),
        ("CPU", p.cpu),
        ("P / E cores", f"{p.p_cores} / {p.e_cores}"),
        ("GPU cores", maybe(p.gpu_cores)),
        ("memory", f"{p.memory_gib:g} GiB ({p.memory_bytes:,} bytes)"),
        ("memory options", ", ".join(f"{g:g}" for g in p.memory_options_gib) + " GiB"),
        ("bandwidth", maybe(p.bandwidth_gb_s, "{:g} GB/s (decimal)")),
        ("max power", maybe(p.max_power_w, "{:g} W")),
        ("launch price", maybe(p.price_usd, "${:,.0f}")),
        ("price per hour", maybe(p.price_usd_hour, "${:,.4f}")),
        ("source", p.source),
    ]


@hardware_app.command("list")
def hardware_list(
    hardware_file: Optional[Path] = HARDWARE_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print every profile with all its fields as JSON."),
) -> None:
    """Every hardware profile: memory (GiB), bandwidth (GB/s), cores, power and price."""
    from .capacity.hardware import load_profiles

    profiles = load_profiles(hardware_file)
    if as_json:
        out.print_json(json.dumps({"profiles": [p.as_dict() for p in profiles]}))
        return
    table = Table(title=f"{len(profiles)} hardware profiles — memory in GiB (Apple's GB), bandwidth in decimal GB/s")
    for name in ("profile", "year", "P+E cores", "GPU", "memory GiB", "GB/s", "max W", "price"):
        table.add_column(name, justify="left" if name == "profile" else "right")
    for p in profiles:
        price = f"${p.price_usd:,.0f}" if p.price_usd is not None else (f"${p.price_usd_hour:,.2f}/h" if p.price_usd_hour is not None else "quote")
        table.add_row(p.name, str(p.year or "—"), f"{p.p_cores}+{p.e_cores}", str(p.gpu_cores or "—"), f"{p.memory_gib:g}",
                      f"{p.bandwidth_gb_s:g}" if p.bandwidth_gb_s else "—", f"{p.max_power_w:g}" if p.max_power_w else "—", price)
    out.print(table)


@hardware_app.command("show")
def hardware_show(
    name: str = typer.Argument(..., help="Profile name, e.g. 'Mac Studio M2 Ultra 192 GB'."),
    hardware_file: Optional[Path] = HARDWARE_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """One profile, every field, with its source."""
    from .capacity.hardware import find_profile, load_profiles

    profile = find_profile(name, load_profiles(hardware_file))
    if as_json:
        out.print_json(json.dumps(profile.as_dict()))
        return
    table = Table(title=profile.name, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in _profile_rows(profile):
        table.add_row(field, value)
    out.print(table)


@hardware_app.command("compare")
def hardware_compare(
    names: list[str] = typer.Argument(..., help="Two or more profile names."),
    hardware_file: Optional[Path] = HARDWARE_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print the profiles as JSON."),
) -> None:
    """Profiles side by side."""
    from .capacity.hardware import find_profile, load_profiles

    if len(names) < 2:
        raise InputError("compare needs at least two profile names")
    everything = load_profiles(hardware_file)
    profiles = [find_profile(n, everything) for n in names]
    if as_json:
        out.print_json(json.dumps({"profiles": [p.as_dict() for p in profiles]}))
        return
    table = Table(title="hardware profiles side by side")
    table.add_column("field")
    for p in profiles:
        table.add_column(p.name)
    rows = [_profile_rows(p) for p in profiles]
    for i, (field, _) in enumerate(rows[0]):
        if field != "name":
            table.add_row(field, *(r[i][1] for r in rows))
    if all(p.price_usd for p in profiles):
        table.add_row("price per GiB", *(f"${p.price_usd / p.memory_gib:,.2f}" for p in profiles))
    out.print(table)



def simulate_sharded_command(scenario: Any, shards: int, scheduler: Optional[str], out_dir: Optional[Path], force: bool, as_json: bool) -> None:
    """``lxdex simulate --shards K``: the shards on Dask workers (one shard and no scheduler: in this process)."""
    from .atomic import write_text_atomic
    from .errors import CapacityError
    from .simulation.sharded import simulate_sharded
    from .simulation import estimate_memory

    if scheduler is None:
        per_shard = estimate_memory(scenario.replace(markets=-(-scenario.markets // shards)))
        available = __import__("psutil").virtual_memory().available
        if per_shard * shards > available and not force:
            raise CapacityError(f"{shards} shards of {scenario.markets:,} markets need an estimated {per_shard * shards / 2**30:.1f} GiB "
                                f"on this machine but only {available / 2**30:.1f} GiB is available; use --scheduler, fewer markets or --force")
    with ExitStack() as stack:
        client = None
        if shards > 1 or scheduler is not None:
            from .distributed import dask_client

            client = stack.enter_context(dask_client(None if scheduler else shards, scheduler))
        advance = stack.enter_context(step_progress("shards"))
        result = simulate_sharded(scenario, shards, client, advance)
    report = result.as_dict()
    text = json.dumps(report, indent=2, allow_nan=False)
    if out_dir is not None:
        write_text_atomic(out_dir / "sharded.json", text + "\n")
    if as_json:
        out.print_json(text)
    else:
        table = Table(title=f"lxdex simulate — {scenario.markets:,} markets in {shards} shard(s), seed {scenario.seed}, "
                            f"flow budget {report['flow_budget']:,} orders")
        for name in ("shard", "markets", "resting orders", "trades", "engine MB used", "reserved MB", "RSS MB", "peak RSS MB", "orders/s", "seconds"):
            table.add_column(name, justify="right")
        for s in report["per_shard"]:
            if "error" in s:
                table.add_row(str(s["shard"]), f"[red]failed: {s['error']}[/]", *[""] * 8)
                continue
            table.add_row(str(s["shard"]), f"{s['markets']:,}", f"{s['resting_orders']:,}", f"{s['trades']:,}", f"{s['engine_bytes_used'] / 1e6:,.1f}",
                          f"{s['engine_bytes_reserved'] / 1e6:,.1f}", f"{s['rss_bytes'] / 1e6:,.1f}", f"{s['peak_rss_bytes'] / 1e6:,.1f}",
                          si(s["orders_per_s"], ""), f"{s['elapsed_s']:,.1f}")
        t = report["total"]
        table.add_row("[bold]total[/]", f"{t['markets']:,}", f"{t['resting_orders']:,}", f"{t['trades']:,}", f"{t['engine_bytes_used'] / 1e6:,.1f}",
                      f"{t['engine_bytes_reserved'] / 1e6:,.1f}", f"{t['rss_bytes'] / 1e6:,.1f}", "", si(t["orders_per_s_sum"], ""),
                      f"{report['wall_seconds']:,.1f}")
        out.print(table)
        out.print(f"MB = 10^6 bytes. orders/s total: the shards' rates summed (all matching at once); "
                  f"{si(t['orders_per_s_wall'], 'orders/s')} over the wall time including building. "
                  f"market checksum {report['market_checksum'] or '— (a shard failed)'}")
    if result.failed:
        for s in result.failed:
            err.print(f"lxdex: error: shard {s['shard']} failed: {s['error']}", highlight=False, markup=False)
        raise typer.Exit(1)
