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


def print_audit(report: dict[str, Any], verdicts: list[Verdict]) -> None:
    """``audit``: a row per claim (its verdict) under the
    report's title and tally (``report``, as ``--json`` prints it)."""
    title = report["source"].get("title", report["claims_file"])
    table = Table(title=f"audit of {title}: {report['holds']} hold, {report['fails']} fail")
    for name in ("claim", "claimed", "measured", "verdict", "measured/claimed", "how"):
        table.add_column(name, justify="right" if name in ("claimed", "measured", "measured/claimed") else "left")
    for v in verdicts:
        bound = "≤ " if v.bound == "at_most" else "≥ "
        measured = quantity(v.measured, v.unit)
        if v.low is not None and v.high is not None:
            measured += f"\n({quantity(v.low, v.unit)} – {quantity(v.high, v.unit)})"
        table.add_row(v.text, bound + quantity(v.claimed, v.unit), measured, "[green]holds[/]" if v.holds else "[red]fails[/]",
                      "—" if v.ratio is None else f"{v.ratio:,.3g}x", v.basis)
    out.print(table)
    out.print("Memory is the engine's own bytes in use unless a claim names another measure; MB and GB are decimal. "
              "Rates are one core of this machine.")
