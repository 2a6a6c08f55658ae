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
from matplotlib.patches import Patch

from ..simulation.results import SimulationResult
from .latency_chart import latency_under_load

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
    """Where a market's bytes go: per tier, each component's share stacked to 100% (shares of 8% or more
    written in the bar), the mean total at the right; the legend below the plot, clear of every bar."""
    b = (r.get("simulate") or {}).get("breakdown")
    if not b:
        return None
    rows = [b["all"], *b["tiers"]]
    labels = b["components"]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 2.4), layout="constrained")
    left = np.zeros(len(rows))
    for key, label in labels.items():
        shares = np.array([row["bytes_mean"][key] / row["total_mean"] if row["total_mean"] else 0.0 for row in rows]) * 100
        bars = ax.barh(range(len(rows)), shares, left=left, label=label)
        ax.bar_label(bars, labels=[f"{s:.0f}%" if s >= 8 else "" for s in shares], label_type="center", fontsize=7, color="white")
        left += shares
    for i, row in enumerate(rows):
        ax.text(101, i, f"{row['total_mean']:,.0f} B", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [row["name"] for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 118)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("share of the mean bytes per market (%); mean bytes per market at the right")
    overall = b["all"]
    top = max(labels, key=lambda key: overall["bytes_mean"][key])
    share = overall["bytes_mean"][top] / overall["total_mean"] if overall["total_mean"] else 0.0
    ax.set_title(f"Where a market's bytes go: {labels[top]} is {share:.0%} of the {overall['total_mean']:,.0f} B "
                 "an average market uses (after trading)", fontsize=10)
    fig.legend(loc="outside lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    return fig


HEADROOM_CLIP_PCT = 200.0  # bars longer than this are cut at it, their value written at the cut


def _pct(value: float) -> str:
    if not np.isfinite(value):
        return "no usable memory"
    return f"{value:,.2f}%" if value < 1 else f"{value:,.1f}%" if value < 100 else f"{value:,.0f}%"


def headroom(r: dict[str, Any]) -> Figure | None:
    """Does the load fit each profile's memory, and how tightly: memory required as a share of the profile's
    usable memory (linear, a line at 100%), its 95% interval as whiskers, coloured by whether the profile
    holds the load; bars beyond :data:`HEADROOM_CLIP_PCT` are cut there, their value written at the cut."""
    plan = r.get("plan")
    if not plan or not plan["profiles"]:
        return None
    profiles = plan["profiles"]
    n = len(profiles)
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = np.array([p["usable_bytes"] for p in profiles], dtype=float)
        use, low, high = (np.where(usable > 0, 100.0 * np.array([p[key] for p in profiles], dtype=float) / usable, np.inf)
                          for key in ("required_bytes", "required_bytes_low", "required_bytes_high"))
    largest = float(np.max(high))
    limit = 110.0 if largest <= 100 else min(largest, HEADROOM_CLIP_PCT) * 1.12
    shown = np.minimum(use, HEADROOM_CLIP_PCT)
    kinds = {"fits": ("tab:green", "fits"),
             "rate": ("tab:orange", "memory fits, the order rate does not"),
             "memory": ("tab:red", "does not fit in memory")}
    kind = ["fits" if p["fits"] else "rate" if p["fits_memory"] else "memory" for p in profiles]
    fig, ax = plt.subplots(figsize=(9, 0.3 * n + 2.4), layout="constrained")
    ax.barh(range(n), shown, color=[kinds[k][0] for k in kind])
    whiskers = np.isfinite(high) & (high <= HEADROOM_CLIP_PCT)
    ax.errorbar(shown[whiskers], np.arange(n)[whiskers], xerr=[(use - low)[whiskers], (high - use)[whiskers]],
                fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    label_box = {"fc": "white", "ec": "none", "alpha": 0.75, "pad": 0.4}  # readable where a label crosses the 100% line
    for i, (value, p) in enumerate(zip(use, profiles, strict=True)):
        text = f"{_pct(value)} of {p['usable_bytes'] / GIB:,.1f} GiB"
        if value > HEADROOM_CLIP_PCT:
            ax.text(HEADROOM_CLIP_PCT * 1.01, i, f"▶ {text}", va="center", fontsize=7, fontweight="bold", bbox=label_box)
        else:
            ax.text(min(max(high[i], value), limit) + limit * 0.01, i, text, va="center", fontsize=7, bbox=label_box)
    handles: list[Any] = [Patch(color=kinds[k][0], label=kinds[k][1]) for k in kinds if k in kind]
    handles.append(ax.axvline(100, color="black", lw=1.2, label="100%: all the usable memory"))
    if largest > HEADROOM_CLIP_PCT:
        handles.append(ax.axvline(HEADROOM_CLIP_PCT, color="grey", lw=0.8, ls=":",
                                  label=f"bars cut at {HEADROOM_CLIP_PCT:,.0f}% (▶), their value written"))
    ax.set_yticks(range(n), [p["name"] for p in profiles], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, limit * (1.3 if largest <= 100 else 1.25))
    ax.set_xlabel("memory required, % of the profile's usable memory (memory minus the OS reserve); whiskers: 95% interval")
    needs = sorted({round(p["required_bytes"] / GIB, 2) for p in profiles})  # differs where a profile runs more engines
    need = f"{needs[0]:,.2f} GiB" if len(needs) == 1 else f"{needs[0]:,.2f}–{needs[-1]:,.2f} GiB by profile"
    fitting = kind.count("fits")
    answer = (f"fits all {n} profiles" if fitting == n else f"fits {fitting} of {n} profiles" if fitting
              else "no profile holds it alone: shard it")
    tightest = int(np.argmin(np.where(np.array(kind) == "fits", -use, np.inf))) if fitting else None
    detail = (f"\nthe tightest fit uses {_pct(use[tightest])} of its usable memory ({profiles[tightest]['name']})"
              if tightest is not None else "")
    ax.set_title(f"{plan['request']['markets']:,} markets need {need} (safety {plan['request']['safety']:g}x): "
                 f"{answer}{detail}", fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=8, frameon=False)
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
    """How long one random access to a market's book takes: the histogram on a linear axis fitted to the
    data (0 to past the p99, the rare slower samples counted in a note), p50 and p99 marked and named in
    the title.  Bars are drawn as density (share of samples per ns): the bins are log-spaced, so their widths differ."""
    t = (r.get("simulate") or {}).get("throughput") or {}
    h = t.get("random_access_histogram")
    if not h:
        return None
    edges, counts = np.array(h["edges"], dtype=float), np.array(h["counts"], dtype=float)
    total = counts.sum()
    if not total:
        return None
    p50, p99 = t["random_access_ns_p50"], t["random_access_ns_p99"]
    cumulative = np.cumsum(counts) / total
    upper = edges[1:]
    wanted = max(upper[min(int(np.searchsorted(cumulative, 0.995)), len(upper) - 1)], 1.3 * p99)
    right = float(upper[min(int(np.searchsorted(upper, wanted)), len(upper) - 1)])  # a bin edge: bars end on it
    shown = upper <= right
    density = counts / total / np.diff(edges) * 100
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    ax.bar(edges[:-1][shown], density[shown], width=np.diff(edges)[shown], align="edge", color="tab:blue",
           edgecolor="white", lw=0.3)
    top = float(density[shown].max())
    for value, name, style in ((p50, "p50", "-"), (p99, "p99", "--")):
        ax.axvline(value, color="black", ls=style, lw=1)
        ax.text(value, top * 1.04, f" {name} {value:,.1f} ns", fontsize=8, va="bottom", ha="left")
    beyond = counts[~shown].sum()
    if beyond:
        slowest = float(upper[counts > 0][-1])
        ax.text(0.98, 0.6, f"{beyond / total:.2%} of samples ({beyond:,.0f}) are slower than {right:,.0f} ns,\n"
                f"the slowest under {slowest:,.0f} ns: not drawn", transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"boxstyle": "round", "fc": "white", "ec": "grey", "lw": 0.5})
    ax.set_xlim(0, right)
    ax.set_ylim(0, top * 1.18)
    ax.set_xlabel("ns per random market access (best bid of a random market, dependent chain; linear axis)")
    ax.set_ylabel("share of samples per ns (%)")
    ax.set_title(f"Random market access: p50 {p50:,.0f} ns, p99 {p99:,.0f} ns", fontsize=11)
    return fig


CHARTS: dict[str, tuple[str, Callable[[dict[str, Any]], Figure | None]]] = {
    "memory_vs_markets": ("Memory vs markets, with the fitted model and its 95% band", memory_vs_markets),
    "breakdown": ("Memory per market by component, per tier", breakdown_stacked),
    "headroom": ("Memory required as a share of each hardware profile's usable memory", headroom),
    "depth_by_rank": ("Book depth by market rank (log-log)", depth_by_rank),
    "flow_lorenz": ("Flow concentration (Lorenz curve)", flow_lorenz),
    "latency": ("Random access latency histogram, p50 and p99 marked", latency_histogram),
    "latency_under_load": ("Per-order latency percentiles against offered rate (log-log), capacity marked", latency_under_load),
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
