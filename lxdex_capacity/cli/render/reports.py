"""``lxdex report`` and ``lxdex audit``.  Texts from the user's files (a claim's text, the source's title) and
paths are escaped, so a ``[`` in them is printed, not read as rich markup."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from ...console import out, quantity

if TYPE_CHECKING:
    from ...reporting.audit import Verdict

__all__ = ["print_written", "print_audit"]


def print_written(written: dict[str, Path], out_dir: Path) -> None:
    """``report``: the files :func:`~lxdex_capacity.reporting.report.write_report` wrote."""
    for name in ("report.md", "report.html", "results.json"):
        out.print(f"wrote {escape(str(written[name]))}")
    out.print(f"wrote {len(written) - 3} chart files under {escape(str(Path(out_dir) / 'charts'))}")


_VERDICT_STYLE = {"holds": "[green]holds[/]", "fails": "[red]fails[/]", "too close to call": "[yellow]too close to call[/]"}


def print_audit(report: dict[str, Any], verdicts: list[Verdict]) -> None:
    """``audit``: a row per claim (its figure, interval and verdict) under the
    report's title and tally (``report``, as ``--json`` prints it); a latency claim has a figure per statistic
    it covers (p99, max, ...) and a line after the table with its repeats' figures."""
    title = report["source"].get("title", report["claims_file"])
    tally = f"{report['holds']} hold, {report['fails']} fail, {report['too_close_to_call']} too close to call"
    table = Table(title=f"audit of {escape(str(title))}: {tally}")
    for name in ("claim", "claimed", "measured (interval)", "verdict", "measured/claimed", "how"):
        table.add_column(name, justify="right" if name in ("claimed", "measured (interval)", "measured/claimed") else "left")
    for v in verdicts:
        bound = "≤ " if v.bound == "at_most" else "≥ "
        verdict = _VERDICT_STYLE.get(v.verdict, v.verdict)
        claimed = quantity(v.claimed, v.unit)
        if v.latency is not None:
            figures = v.latency["statistics"]
            claimed = _time(v.claimed)
            measured = "\n".join(f"{name} {_time(f['median'])}\n({_time(f['low'])} – {_time(f['high'])})" for name, f in figures.items())
            ratio = "\n\n".join("—" if f["ratio"] is None else f"{f['ratio']:,.3g}x" for f in figures.values())
            if len(figures) > 1:
                verdict += "\n(" + ", ".join(f"{name} {f['verdict']}" for name, f in figures.items()) + ")"
        else:
            measured = quantity(v.measured, v.unit)
            if v.low is not None and v.high is not None:
                measured += f"\n({quantity(v.low, v.unit)} – {quantity(v.high, v.unit)})"
            ratio = "—" if v.ratio is None else f"{v.ratio:,.3g}x"
        table.add_row(escape(v.text), bound + claimed, measured, verdict, ratio, escape(v.basis))
    out.print(table)
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
             "is on the other side, and is too close to call when the interval straddles it."]
    out.print(" ".join(n for n in notes if n))
    out.print("Memory is the engine's own bytes in use unless a claim names another measure; MB and GB are decimal. "
              "Rates are one core of this machine unless a claim names threads (its basis says how many).")


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
