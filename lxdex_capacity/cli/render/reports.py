"""``lxdex report`` and ``lxdex audit``.  Texts from the user's files (a claim's text, the source's title) and
paths are escaped, so a ``[`` in them is printed, not read as rich markup."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from ...console import Table, out, quantity

if TYPE_CHECKING:
    from ...reporting.audit import Verdict

__all__ = ["print_written", "print_audit"]


def print_written(written: dict[str, Path], out_dir: Path) -> None:
    """``report``: the files :func:`~lxdex_capacity.reporting.report.write_report` wrote."""
    for name in ("report.md", "report.html", "results.json"):
        out.print(f"wrote {escape(str(written[name]))}")
    out.print(f"wrote {len(written) - 3} chart files under {escape(str(Path(out_dir) / 'charts'))}")


_VERDICT_STYLE = {"holds": "[green]holds[/]", "fails": "[red]fails[/]", "too close to call": "[yellow]too close to call[/]",
                  "too noisy to call": "[yellow]too noisy to call[/]"}


def print_audit(report: dict[str, Any], verdicts: list[Verdict]) -> None:
    """``audit``: a row per claim (its figure, interval, verdict and, in short, how it was obtained) under the
    report's title and tally (``report``, as ``--json`` prints it), then each claim's basis in full as a numbered
    note (the row's "how" ends with its number); a latency claim has a figure per statistic it covers (p99,
    max, ...), a line each, and a line after the table with its repeats' figures."""
    title = report["source"].get("title", report["claims_file"])
    tally = f"{report['holds']} hold, {report['fails']} fail, {report['too_close_to_call']} too close to call"
    if report.get("too_noisy_to_call"):
        tally += f", {report['too_noisy_to_call']} too noisy to call"
    table = Table(title=f"audit of {escape(str(title))}: {tally}", show_lines=True)
    for name in ("claim", "claimed", "measured (interval)", "verdict", "measured / claimed", "how"):
        table.add_column(name, justify="right" if name in ("claimed", "measured (interval)", "measured / claimed") else "left",
                         key=name == "measured (interval)")  # a figure, or a statistic with its interval, a line each
    for number, v in enumerate(verdicts, 1):
        bound = "≤ " if v.bound == "at_most" else "≥ "
        verdict = _VERDICT_STYLE.get(v.verdict, v.verdict)
        claimed = quantity(v.claimed, v.unit)
        if v.latency is not None:
            figures = v.latency["statistics"]
            claimed = _time(v.claimed)
            measured = "\n".join(f"{name} {_time(f['median'])} ({_range(_time(f['low']), _time(f['high']), _time(f['median']))})"
                                 for name, f in figures.items())
            ratio = "\n".join("—" if f["ratio"] is None else f"{f['ratio']:,.3g}x" for f in figures.values())
            if len(figures) > 1:
                verdict += "\n(" + ", ".join(f"{name} {f['verdict']}" for name, f in figures.items()) + ")"
        else:
            measured = quantity(v.measured, v.unit)
            if v.low is not None and v.high is not None:
                measured += f"\n({_range(quantity(v.low, v.unit), quantity(v.high, v.unit), measured)})"
            ratio = "—" if v.ratio is None else f"{v.ratio:,.3g}x"
        table.add_row(escape(v.text), bound + claimed, measured, verdict, ratio, escape(f"{_how(v)} [{number}]"))
    if table.natural_width(out) > out.width:  # narrow: the verdicts' and ratios' columns give way first, as they may
        table.columns[3].max_width, table.columns[4].max_width = len("too close to call"), len("measured")
    out.print(table)
    out.print("How each figure was obtained:", highlight=False)
    for number, v in enumerate(verdicts, 1):
        out.print(f"[{number}] {v.id}: {v.basis}", markup=False, highlight=False)
    for v in verdicts:
        if v.latency is not None:
            out.print(_latency_line(v), markup=False)
    for v in verdicts:
        if v.note:
            out.print(f"Note on {v.text!r}: {v.note}", markup=False)
    repeats = report["repeats"]
    seeds = report["seeds"]
    interval = next((v.interval for v in verdicts if v.repeats and v.latency is None), None)
    notes = [f"A measured figure is the median of {repeats} runs (seeds {seeds[0]}–{seeds[-1]}, a fresh engine each), "
             f"in brackets the {interval}." if interval is not None else "",
             "A latency claim's figures are each statistic's median over repeated offered runs on one seeded engine "
             "(each with its own arrivals and orders), in brackets its interval; the claim holds only if every statistic "
             "holds." if any(v.latency is not None for v in verdicts) else "",
             "A model prediction has its 95% prediction interval." if any(not v.repeats for v in verdicts) else "",
             "A claim holds when the whole interval is on its side of the claimed figure, fails when the whole interval "
             "is on the other side, and is too close to call (memory) or too noisy to call (a timed figure) when the interval "
             "straddles it; a timed figure measured while the machine was busy is too noisy to call, never a hold or a fail."]
    out.print(" ".join(n for n in notes if n))
    out.print("Memory is the engine's own bytes in use unless a claim names another measure; MB and GB are decimal. "
              "Rates are one core of this machine unless a claim names threads (its \"how\" says how many).")


def _how(v: Verdict) -> str:
    """How a verdict's figure was obtained, in a few words (its basis, in full, is its note): "5 runs, seeds 0–4,
    one core", "5 runs, seeds 0–4" (memory), "model, 95% PI"."""
    if not v.repeats:
        return "model, 95% PI"
    seeds = f"seed {v.seeds[0]}" if len(v.seeds) == 1 else f"seeds {v.seeds[0]}–{v.seeds[-1]}" if v.seeds else ""
    runs = f"{v.repeats} run{'s' if v.repeats != 1 else ''}"
    if v.metric in ("memory", "memory_per_market"):
        where = ""
    elif (threads := re.search(r"on (\d+) threads", v.basis)) is not None:
        where = f"{threads.group(1)} threads"
    else:
        where = "one core"
    return ", ".join(part for part in (runs, seeds, where) if part)


def _range(low: str, high: str, beside: str | None = None) -> str:
    """An interval's ends, their unit once when they share it (``16.3 – 16.4 MB``, ``990 MB – 1.010 GB``), and not even
    once when it is the unit of the figure ``beside`` it (``14.6 MB`` over ``(14.5–14.6)``, ``p99 17.1 µs (16.9–17.3)``)."""
    (low_figure, _, low_unit), (high_figure, _, high_unit) = low.partition(" "), high.partition(" ")
    if low_unit != high_unit:
        return f"{low} – {high}"
    if beside is not None and beside.partition(" ")[2] == high_unit:
        return f"{low_figure}–{high_figure}"
    return f"{low_figure} – {high_figure} {high_unit}".rstrip()


def _time(ns: float) -> str:
    """A latency: ``412 ns``, ``26.3 µs``, ``2.54 ms`` (three figures at least, as the latency table)."""
    if ns < 10_000:
        return f"{ns:,.0f} ns" if ns >= 100 else f"{ns:,.1f} ns"
    return f"{ns / 1e3:,.1f} µs" if ns < 1e6 else f"{ns / 1e6:,.2f} ms" if ns < 1e9 else f"{ns / 1e9:,.2f} s"


def _latency_line(v: Verdict) -> str:
    """A latency claim's repeats: each statistic's figure in every run, the rates achieved, the service time."""
    assert v.latency is not None
    lat = v.latency
    each = "; ".join(f"{name} " + ", ".join(_time(x) for x in f["samples"]) for name, f in lat["statistics"].items())
    achieved = lat["achieved_per_s"]
    alone = [f"{what} p99 {_time(t['p99_ns'])}, max {_time(t['max_ns'])}" for what, t in
             (("orders", lat["service"]), ("cancels", lat.get("cancel_service"))) if t]
    return (f"{v.text}: {len(achieved)} repeats (arrival seeds {lat['arrival_seeds'][0]}–{lat['arrival_seeds'][-1]}): {each}; "
            f"achieved {min(achieved):,.0f}–{max(achieved):,.0f} messages/s"
            + (f"; service time, each alone: {'; '.join(alone)}" if alone else ""))
