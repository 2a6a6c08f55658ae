"""The report's charts (matplotlib, Agg backend): each function draws one figure from ``results``.

:func:`render_charts` returns ``{name: {"png": bytes, "svg": bytes, "title": str}}``; writing them
is the caller's business.  Charts whose data a results file lacks are skipped, not faked.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..simulation.results import SimulationResult

__all__ = ["render_charts", "CHARTS"]

GIB = 2**30


def memory_vs_markets(r: dict[str, Any]) -> Figure | None:
    """Sweep points, the fitted model along the default scenario, its 95% prediction band."""
    model = r.get("model") or {}
    points = model.get("points") or []
    if not points:
        return None
    from ..capacity.model import LinearFit

    fit = LinearFit.from_dict(model["fit"])
    fig, ax = plt.subplots(figsize=(8, 5))
    markers = {"default": "o", "deep books": "s", "long tape": "^"}
    for variant, marker in markers.items():
        sel = [p for p in points if p["variant"] == variant]
        if sel:
            ax.scatter([p["markets"] for p in sel], [p["engine_bytes_used"] / 1e6 for p in sel], marker=marker, zorder=3,
                       label=f"measured: {variant}")
    default = sorted((p for p in points if p["variant"] == "default"), key=lambda p: p["markets"])
    if not default:  # the fitted line follows the default scenario's measured points
        plt.close(fig)
        return None
    xs_m = np.array([p["markets"] for p in default], dtype=float)
    per_market_orders = np.array([p["resting_orders"] / p["markets"] for p in default])
    retained = float(np.median([p["trades_retained"] for p in default]))
    largest = float(model.get("largest_markets", xs_m.max()))
    furthest = max([largest] + [row["markets"] for row in (r.get("plan") or {}).get("scaling", [])])
    grid = np.geomspace(xs_m.min(), furthest, 200)
    orders = grid * np.exp(np.interp(np.log(grid), np.log(xs_m), np.log(per_market_orders)))
    centre = np.array([fit.predict(m, o, retained) for m, o in zip(grid, orders, strict=True)])
    band = np.array([fit.interval(m, o, retained) for m, o in zip(grid, orders, strict=True)])
    ax.plot(grid, centre / 1e6, color="black", lw=1, label="model, default scenario")
    ax.fill_between(grid, band[:, 0] / 1e6, band[:, 1] / 1e6, color="grey", alpha=0.3, label="95% prediction band")
    if furthest > largest:
        ax.axvspan(largest, furthest, color="orange", alpha=0.08, label="extrapolated (beyond the measured sizes)")
    sim = r.get("simulate")
    if sim:
        traded = SimulationResult.from_dict(sim, "results: simulate").traded
        ax.scatter([sim["markets"]], [traded.engine_bytes_used / 1e6], marker="*", s=160, color="crimson", zorder=4,
                   label=f"this report's run ({sim['markets']:,} markets)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("markets")
    ax.set_ylabel("engine bytes used (MB, 10^6 B)")
    ax.set_title("Memory vs markets: measured points and the fitted cost model")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def breakdown_stacked(r: dict[str, Any]) -> Figure | None:
    """Per-market bytes by component, per tier: shares stacked to 100%, the mean total written on each bar."""
    b = (r.get("simulate") or {}).get("breakdown")
    if not b:
        return None
    rows = [b["all"], *b["tiers"]]
    labels = b["components"]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.8))
    left = np.zeros(len(rows))
    for key, label in labels.items():
        shares = np.array([row["bytes_mean"][key] / row["total_mean"] for row in rows]) * 100
        ax.barh(range(len(rows)), shares, left=left, label=label)
        left += shares
    for i, row in enumerate(rows):
        ax.text(101, i, f"{row['total_mean']:,.0f} B", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [row["name"] for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 118)
    ax.set_xlabel("share of the mean bytes per market (%); mean bytes per market at the right")
    ax.set_title("Memory per market by component, per tier (after trading)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def headroom(r: dict[str, Any]) -> Figure | None:
    """Usable memory per profile against the required bytes (with and without the safety factor)."""
    plan = r.get("plan")
    if not plan:
        return None
    profiles = plan["profiles"]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(profiles) + 1.8))
    usable = np.array([p["usable_bytes"] for p in profiles]) / GIB
    colors = ["tab:green" if p["fits"] else "tab:red" for p in profiles]
    ax.barh(range(len(profiles)), np.maximum(usable, 1e-3), color=colors)
    required = plan["profiles"][0]["required_bytes"] / GIB
    runtime = plan["model"]["runtime_bytes"]
    unsafe = (runtime + plan["engine_bytes"]) / GIB
    ax.axvline(required, color="black", lw=1.5, label=f"required, safety {plan['request']['safety']:g}x: {required:,.2f} GiB")
    ax.axvline(unsafe, color="black", lw=1, ls="--", label=f"runtime + engine, no safety: {unsafe:,.2f} GiB")
    ax.set_yticks(range(len(profiles)), [p["name"] for p in profiles], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("usable memory (GiB, 2^30 B; memory minus the OS reserve); green fits, red does not")
    ax.set_title(f"Headroom per hardware profile: {plan['request']['markets']:,} markets")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def depth_by_rank(r: dict[str, Any]) -> Figure | None:
    """Resting orders per market against activity rank, log-log: the tiered power law."""
    d = ((r.get("simulate") or {}).get("distributions") or {}).get("depth_by_rank")
    if not d or not d["rank"]:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    depth = np.maximum(np.array(d["resting_orders"], dtype=float), 0.8)  # 0 cannot sit on a log axis
    ax.scatter(d["rank"], depth, s=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("market rank by activity (1 = most active)")
    ax.set_ylabel("resting orders after trading")
    ax.set_title("Book depth by market rank (log-log)")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def flow_lorenz(r: dict[str, Any]) -> Figure | None:
    """Lorenz curve of trades across markets, with the top-20% point marked."""
    d = (r.get("simulate") or {}).get("distributions") or {}
    curve = d.get("trades_lorenz")
    if not curve:
        return None
    fig, ax = plt.subplots(figsize=(6, 6))
    x, y = np.array(curve["market_share"]) * 100, np.array(curve["activity_share"]) * 100
    ax.plot(x, y, label="trades (Lorenz curve)")
    ax.plot([0, 100], [0, 100], color="grey", ls="--", lw=1, label="equal activity")
    share, top = d.get("top_market_share", 0.2), d.get("trades_top_share", 0.0)
    ax.scatter([100 * (1 - share)], [100 * (1 - top)], color="crimson", zorder=3,
               label=f"top {share:.0%} of markets: {top:.1%} of trades")
    ax.set_xlabel("markets, least active first (%)")
    ax.set_ylabel("cumulative share of trades (%)")
    ax.set_title("Flow concentration across markets")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, alpha=0.3)
    return fig


def latency_histogram(r: dict[str, Any]) -> Figure | None:
    """Histogram of one dependent random access to a market's book (ns, log bins)."""
    t = (r.get("simulate") or {}).get("throughput") or {}
    h = t.get("random_access_histogram")
    if not h:
        return None
    edges, counts = np.array(h["edges"]), np.array(h["counts"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", edgecolor="white", lw=0.3)
    for value, name, style in ((t["random_access_ns_p50"], "p50", "-"), (t["random_access_ns_p99"], "p99", "--")):
        ax.axvline(value, color="black", ls=style, lw=1, label=f"{name}: {value:,.1f} ns")
    ax.set_xscale("log")
    ax.set_xlabel("ns per random market access (best bid of a random market, dependent chain)")
    ax.set_ylabel("samples (runs of 16 accesses)")
    ax.set_title("Random access latency")
    ax.legend(fontsize=8)
    return fig


CHARTS: dict[str, tuple[str, Callable[[dict[str, Any]], Figure | None]]] = {
    "memory_vs_markets": ("Memory vs markets, with the fitted model and its 95% band", memory_vs_markets),
    "breakdown": ("Memory per market by component, per tier", breakdown_stacked),
    "headroom": ("Headroom per hardware profile", headroom),
    "depth_by_rank": ("Book depth by market rank (log-log)", depth_by_rank),
    "flow_lorenz": ("Flow concentration (Lorenz curve)", flow_lorenz),
    "latency": ("Random access latency histogram", latency_histogram),
}


def render_charts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every chart the results can support, as PNG and SVG bytes."""
    rendered = {}
    with plt.rc_context({"svg.hashsalt": "lxdex", "svg.fonttype": "path"}):
        for name, (title, draw) in CHARTS.items():
            fig = draw(results)
            if fig is None:
                continue
            files = {}
            for fmt in ("png", "svg"):
                buffer = io.BytesIO()
                metadata = {"Date": None} if fmt == "svg" else {}
                fig.savefig(buffer, format=fmt, dpi=110, bbox_inches="tight", metadata=metadata)
                files[fmt] = buffer.getvalue()
            plt.close(fig)
            rendered[name] = files | {"title": title}
    return rendered
