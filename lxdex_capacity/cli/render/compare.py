"""``lxdex compare``: a row per figure in both results (each side's median with its interval, the change,
the ratio's interval, the verdict, coloured), the figures in one result only, then the one-line summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from ...console import out, si
from ...measure.compare import ALPHA
from .figures import verdict_cell

if TYPE_CHECKING:
    from ...measure.compare import Comparison, Row
    from ...measure.figure import Figure

__all__ = ["print_compare"]


_MARK = {"stable": "", "noisy": " [yellow]~[/]", "disturbed": " [red]![/]"}


def _value(figure: Figure) -> str:
    """The median, marked ``~`` when noisy and ``!`` when disturbed, over the interval of the median (the unit is with
    the figure's name)."""
    mark = _MARK[figure.status] if figure.timed else ""
    if figure.low == figure.high:
        return f"{si(figure.value)}{mark}"
    return f"{si(figure.value)}{mark}\n[dim]{si(figure.low)}–{si(figure.high)}[/]"


def _ratio(row: Row) -> str:
    """``1.050–1.201``: the interval of the ratio new/base (the change column gives the ratio itself, less 1)."""
    if not row.timed:
        return ""
    if row.ratio_low is None and row.ratio_high is None:
        return "—"
    low = f"{row.ratio_low:.3f}" if row.ratio_low is not None else "0"
    high = f"{row.ratio_high:.3f}" if row.ratio_high is not None else "∞"
    return f"{low}–{high}"


def _coverage(rows: list[Row]) -> str:
    """``at least 87.9%`` (or ``at least 56.2–87.9%``): how surely the ratios' intervals hold the true ratios."""
    levels = sorted({round(r.coverage * 100, 1) for r in rows if r.timed})
    if not levels:
        return ""
    span = f"{levels[0]:g}%" if len(levels) == 1 else f"{levels[0]:g}–{levels[-1]:g}%"
    return f" (it holds the true ratio with at least {span}: the product of the medians' intervals' coverages)"


def _change(row: Row) -> str:
    gain = row.improvement
    if not row.timed:
        return escape(row.change_text())
    if gain is None:
        return "—"
    return f"{gain:+.1%}"


def _verdict(row: Row) -> str:
    """The verdict, coloured: a figure counted exactly is green when it moved the way ``better`` says, red the other way."""
    if row.timed or row.verdict == "same":
        return verdict_cell(row.verdict)
    good = (row.verdict == "larger") == (row.better == "higher")
    return f"[{'green' if good else 'red'}]{row.verdict}[/]"


def _name(name: str, unit: str) -> str:
    return f"{escape(name)} [dim]({escape(unit)})[/]" if unit else escape(name)


def print_compare(comparison: Comparison) -> None:
    """:func:`lxdex_capacity.measure.compare.compare`'s result as a table, then its summary."""
    c = comparison
    table = Table(title=f"{escape(c.new_origin)} against {escape(c.base_origin)} ({escape(c.kind)} results)",
                  caption=f"medians over the intervals of the medians (~ noisy, ! disturbed: measured on a busy machine); change of the "
                          f"median: + is better (a rate higher, a time lower); ratio interval: of new/base{_coverage(list(c.rows))}; "
                          f"faster or slower: that interval excludes 1 and the Mann–Whitney test's p < {ALPHA:g}")
    table.add_column("figure", no_wrap=True)
    table.add_column("base", justify="right")
    table.add_column("new", justify="right")
    table.add_column("change", justify="right")
    table.add_column("ratio interval", justify="right")
    table.add_column("verdict")
    for row in c.rows:
        table.add_row(_name(row.name, row.unit), _value(row.base), _value(row.new), _change(row), _ratio(row), _verdict(row))
    for name in c.only_in_base:
        f = c.base_figures[name]
        table.add_row(_name(name, f.unit), _value(f), "—", "", "", "[dim]only in base[/]")
    for name in c.only_in_new:
        f = c.new_figures[name]
        table.add_row(_name(name, f.unit), "—", _value(f), "", "", "[dim]only in new[/]")
    out.print(table)
    reasons = [f"{escape(r.name)}: {escape(r.reason)}" for r in c.rows if r.verdict in ("too noisy to call", "faster", "slower")]
    for line in reasons:
        out.print(f"  {line}", highlight=False)
    out.print(c.summary(), highlight=False)
