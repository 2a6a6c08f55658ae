"""The chart of per-order latency under load: percentiles against offered rate, from
:meth:`~lxdex_capacity.latency.harness.LatencyResult.as_dict` (``lxdex latency --out``, and the report's
``latency`` section).

Both axes are logarithmic; the y axis reads in ns, µs, ms or s.  The measured capacity (one over the
mean service time, each order alone) is a vertical line, the rates above it shaded; the points of a
rate the engine fell behind (:func:`overloaded`: its queue grew for the whole run, so its latency
measures the run's length as much as the engine) are hollow; the service time's p50 (each order
alone) is a horizontal reference line.

* :func:`latency_figure` draws it (a matplotlib :class:`~matplotlib.figure.Figure`);
* :func:`latency_under_load` is the report's chart function (``results["latency"]``, or None);
* :func:`write_latency_chart` writes it as PNG or SVG by the path's suffix, whole or not at all.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..atomic import write_bytes_atomic
from ..errors import InputError
from ..units import NS_UNITS, duration_text, rate_text, si

__all__ = ["CHART_SUFFIXES", "LATENCY_SERIES", "OVERLOADED_SHARE", "overloaded", "latency_figure", "latency_under_load", "write_latency_chart",
           "chart_bytes"]

CHART_SUFFIXES = (".png", ".svg")
# The as_dict() keys drawn, in order, with their legend names.
LATENCY_SERIES = (("p50_ns", "p50"), ("p90_ns", "p90"), ("p99_ns", "p99"), ("p999_ns", "p99.9"), ("p9999_ns", "p99.99"),
                  ("max_ns", "max"))
_DPI = 110
_X_MARGIN = 1.6  # the rate axis reaches this factor beyond the outermost rate (or the capacity)
_Y_MARGIN = 1.2  # the latency axis at least this factor beyond the extreme figures, then out to a 1-2-5 tick
# A rate is overloaded when the engine completed less than this share of the orders per second that arrived:
# its queue grew for the whole run, so its latencies measure the run's length as much as the engine.
OVERLOADED_SHARE = 0.95
# Below this many decades an axis gets ticks at 1, 2 and 5 of each decade; above it at each decade only.
_FINE_TICK_DECADES = 2.5


def _tick_ns(value: float, _position: float) -> str:
    """A y tick: the duration without trailing zeros (``500 ns``, ``2 µs``, ``10 ms``)."""
    for factor, unit in NS_UNITS:
        if value >= factor:
            return f"{value / factor:g} {unit}"
    return f"{value:g} ns"


def _tick_rate(value: float, _position: float) -> str:
    """An x tick: orders per second (``200K``, ``1M``)."""
    return rate_text(value)


def overloaded(row: dict[str, Any]) -> bool:
    """Whether an offered rate's run fell behind: achieved below :data:`OVERLOADED_SHARE` of offered."""
    return bool(row["achieved_per_s"] < OVERLOADED_SHARE * row["offered_per_s"])


def _nice_bound(value: float, up: bool) -> float:
    """The nearest 1, 2 or 5 times a power of ten at or beyond ``value`` (> 0), above it when ``up``, else below:
    an axis that ends on a labelled tick."""
    decade = 10.0 ** math.floor(math.log10(value))
    steps = [decade * m for m in (1.0, 2.0, 5.0, 10.0)]
    return min(x for x in steps if x >= value) if up else max(x for x in steps if x <= value)


def _log_ticks(axis: Any, low: float, high: float, formatter: Any) -> None:
    """Major ticks on a log axis from ``low`` to ``high``, labelled by ``formatter``: 1-2-5 of each decade on a
    short axis, each decade on a long one; minor ticks unlabelled."""
    decades = math.log10(high / low) if low > 0 and high > low else 0.0
    subs = (1.0, 2.0, 5.0) if decades < _FINE_TICK_DECADES else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(formatter))
    axis.set_minor_formatter(NullFormatter())


def _conditions(latency: dict[str, Any]) -> str:
    """How the run was made, for the title: markets, arrivals, batch, pools."""
    batch = latency["batch"]
    pools = "pools reserved" if latency["reserve"] else "pools growing"
    look_ahead = ", look-ahead" if latency.get("look_ahead") else ""
    threads = latency.get("threads") or 1
    cores = f", {threads} threads" if threads > 1 else ""
    return (f"{latency['markets']:,} markets{cores}, {latency['arrivals']} arrivals, "
            f"{'one order' if batch == 1 else f'batches of {batch:,}'} at a time, {pools}{look_ahead}")


def latency_figure(latency: dict[str, Any]) -> Figure:
    """Latency percentiles (p50 to p99.99 and max) against offered rate, log-log, the capacity marked."""
    rows = sorted(latency["rates"], key=lambda row: row["offered_per_s"])
    capacity = float(latency["capacity_per_s"])
    service = latency["service"]
    floor = max(float(latency.get("counter_ns") or 0.0), 1.0)  # 0 cannot sit on a log axis; nothing below one counter step is resolved
    offered = [row["offered_per_s"] for row in rows]
    fig, ax = plt.subplots(figsize=(8.5, 5.2), layout="constrained")
    colours = plt.get_cmap("viridis")
    drawn: list[float] = []
    behind = [overloaded(row) for row in rows]
    for i, (key, name) in enumerate(LATENCY_SERIES):
        values = [max(float(row[key]), floor) for row in rows]
        drawn += values
        colour = colours(i / (len(LATENCY_SERIES) - 1))
        ax.plot(offered, values, marker="o", ms=4, lw=1.4, color=colour, label=name, ls=":" if key == "max_ns" else "-")
        late = [(x, y) for x, y, b in zip(offered, values, behind, strict=True) if b]
        if late:  # hollow: the run fell behind
            ax.plot(*zip(*late, strict=True), ls="none", marker="o", ms=6, mfc="white", mec=colour, zorder=3)
    reference = max(float(service["p50_ns"]), floor)
    drawn.append(reference)
    ax.axhline(reference, color="grey", ls="--", lw=1,
               label=f"service time p50, each order alone: {duration_text(service['p50_ns'])}")
    # The p99 floor of each rate, from the same runs: what arriving in one of this core's interruptions alone made the
    # messages wait (never above the p99 measured with it); older results have only a separate spin's floor: not drawn.
    floors = [float((row.get("floor") or {}).get("p99_ns") or 0.0) for row in rows]
    if any(f > 0 for f in floors):
        values = [max(f, floor) for f in floors]
        drawn += values
        ax.plot(offered, values, color="darkorange", ls="-.", lw=1.2, marker="x", ms=4,
                label="p99 floor: the wait for this core's own interruptions alone, in the same runs")
    marked = [capacity] if capacity > 0 else []  # a capacity of 0 (no service time measured) has no place on a log axis
    right = max([*offered, *marked]) * _X_MARGIN
    left = min([*offered, *marked]) / _X_MARGIN
    messages = "messages" if latency.get("cancels_per_order") else "orders"  # cancels mixed in: rates count both
    if marked:
        ax.axvline(capacity, color="crimson", lw=1.3, label=f"capacity, one over the mean service time: {si(capacity)} {messages}/s")
        ax.axvspan(capacity, right, color="crimson", alpha=0.06, label="above the capacity measured one order at a time")
    if any(behind):
        ax.plot([], [], ls="none", marker="o", ms=6, mfc="white", mec="black",
                label=f"hollow: fell behind (achieved < {OVERLOADED_SHARE:.0%} of offered), the queue grew all run")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(left, right)
    low, high = _nice_bound(min(drawn) / _Y_MARGIN, up=False), _nice_bound(max(drawn) * _Y_MARGIN, up=True)
    ax.set_ylim(low, high)
    _log_ticks(ax.xaxis, left, right, _tick_rate)
    _log_ticks(ax.yaxis, low, high, _tick_ns)
    ax.set_xlabel(f"offered rate ({messages} per second, log scale)")
    ax.set_ylabel("latency = completion − arrival (log scale)")
    ax.set_title(f"Per-order latency under load, open loop, one core\n{_conditions(latency)}; "
                 f"{latency['orders_per_rate']:,} orders per rate", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def latency_under_load(results: dict[str, Any]) -> Figure | None:
    """The report's chart: :func:`latency_figure` of ``results["latency"]``, or None when the report has no latency run."""
    latency = results.get("latency")
    if not latency or not latency.get("rates"):
        return None
    return latency_figure(latency)


def chart_bytes(fig: Figure, fmt: str) -> bytes:
    """``fig`` as ``fmt`` (``"png"`` or ``"svg"``) bytes; the SVG without a date, so the same figures give the same file."""
    buffer = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": "lxdex", "svg.fonttype": "path"}):
        metadata = {"Date": None} if fmt == "svg" else {}
        fig.savefig(buffer, format=fmt, dpi=_DPI, bbox_inches="tight", metadata=metadata)
    return buffer.getvalue()


def _chart_format(path: Path) -> str:
    """``png`` or ``svg`` from the suffix of ``path``; anything else is one :class:`InputError` naming the path."""
    suffix = path.suffix.lower()
    if suffix not in CHART_SUFFIXES:
        found = f"not {path.suffix!r}" if path.suffix else "and it has no suffix"
        raise InputError(f"chart {str(path)!r}: the file name must end in {' or '.join(CHART_SUFFIXES)}, "
                         f"which says the format to write, {found}")
    return suffix.lstrip(".")


def write_latency_chart(latency: dict[str, Any], path: str | Path) -> None:
    """Write :func:`latency_figure` of ``latency`` (an :meth:`~lxdex_capacity.latency.harness.LatencyResult.as_dict`)
    to ``path``, as PNG or SVG by its suffix (.png, .svg), through a temporary sibling renamed into place."""
    path = Path(path)
    fmt = _chart_format(path)
    if not latency.get("rates"):
        raise InputError(f"chart {str(path)!r}: the latency run has no offered rates to draw")
    fig = latency_figure(latency)
    try:
        data = chart_bytes(fig, fmt)
    finally:
        plt.close(fig)
    write_bytes_atomic(path, data)
