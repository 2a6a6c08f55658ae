"""``lxdex report`` and ``lxdex audit``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ...console import out, quantity

if TYPE_CHECKING:
    from ...reporting.audit import Verdict

__all__ = ["print_written", "print_audit"]


def print_written(written: dict[str, Path], out_dir: Path) -> None:
    """``report``: the files :func:`~lxdex_capacity.reporting.report.write_report` wrote."""
    for name in ("report.md", "report.html", "results.json"):
        out.print(f"wrote {written[name]}")
    out.print(f"wrote {len(written) - 3} chart files under {Path(out_dir) / 'charts'}")


_VERDICT_STYLE = {"holds": "[green]holds[/]", "fails": "[red]fails[/]", "too close to call": "[yellow]too close to call[/]"}


def print_audit(report: dict[str, Any], verdicts: list[Verdict]) -> None:
    """``audit``: a row per claim (its figure, interval and verdict) under the
    report's title and tally (``report``, as ``--json`` prints it)."""
    title = report["source"].get("title", report["claims_file"])
    tally = f"{report['holds']} hold, {report['fails']} fail, {report['too_close_to_call']} too close to call"
    table = Table(title=f"audit of {title}: {tally}")
    for name in ("claim", "claimed", "measured (interval)", "verdict", "measured/claimed", "how"):
        table.add_column(name, justify="right" if name in ("claimed", "measured (interval)", "measured/claimed") else "left")
    for v in verdicts:
        bound = "≤ " if v.bound == "at_most" else "≥ "
        measured = quantity(v.measured, v.unit)
        if v.low is not None and v.high is not None:
            measured += f"\n({quantity(v.low, v.unit)} – {quantity(v.high, v.unit)})"
        table.add_row(v.text, bound + quantity(v.claimed, v.unit), measured, _VERDICT_STYLE.get(v.verdict, v.verdict),
                      "—" if v.ratio is None else f"{v.ratio:,.3g}x", v.basis)
    out.print(table)
    repeats = report["repeats"]
    seeds = report["seeds"]
    interval = next((v.interval for v in verdicts if v.repeats), None)
    notes = [f"A measured figure is the median of {repeats} runs (seeds {seeds[0]}–{seeds[-1]}, a fresh engine each), "
             f"in brackets the {interval}." if interval is not None else "",
             "A model prediction has its 95% prediction interval." if any(not v.repeats for v in verdicts) else "",
             "A claim holds when the whole interval is on its side of the claimed figure, fails when the whole interval "
             "is on the other side, and is too close to call when the interval straddles it."]
    out.print(" ".join(n for n in notes if n))
    out.print("Memory is the engine's own bytes in use unless a claim names another measure; MB and GB are decimal. "
              "Rates are one core of this machine.")
