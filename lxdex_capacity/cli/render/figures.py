"""How a measured figure is printed in a table: the median with the interval of the median, its status
(stable / noisy / disturbed) and a verdict (holds / fails / too noisy to call), each with its colour."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...measure.figure import Figure, as_figures

__all__ = ["value_with_interval", "status_cell", "verdict_cell", "stability_caption"]

_STATUS_STYLE = {"stable": "green", "noisy": "yellow", "disturbed": "red"}
_VERDICT_STYLE = {"holds": "green", "fails": "red", "too noisy to call": "yellow", "faster": "green", "slower": "red",
                  "no significant change": "dim", "too close to call": "yellow"}


def _figure(figure: Figure | Mapping[str, Any]) -> Figure:
    return figure if isinstance(figure, Figure) else as_figures([figure])[0]


def value_with_interval(figure: Figure | Mapping[str, Any], fmt: Callable[[float], str], unit: str = "") -> str:
    """``4.12M (3.90M–4.31M) orders/s``: the median and the interval of the median, then the unit; a figure
    counted exactly, or whose interval is one point, alone."""
    f = _figure(figure)
    suffix = f" {unit}" if unit else ""
    if f.low == f.high:
        return f"{fmt(f.value)}{suffix}"
    return f"{fmt(f.value)} ({fmt(f.low)}–{fmt(f.high)}){suffix}"


def status_cell(figure: Figure | Mapping[str, Any] | str) -> str:
    """``stable``, ``noisy`` or ``disturbed``, coloured (of a figure, or a status as is); a figure counted exactly says ``exact``."""
    if isinstance(figure, str):
        return f"[{_STATUS_STYLE.get(figure, 'default')}]{figure}[/]"
    f = _figure(figure)
    if not f.timed:
        return "exact" if f.status == "stable" else f"[yellow]{f.status}[/]"
    return f"[{_STATUS_STYLE[f.status]}]{f.status}[/]"


def verdict_cell(verdict: str) -> str:
    return f"[{_VERDICT_STYLE.get(verdict, 'default')}]{verdict}[/]"


def stability_caption(figures: Any) -> str:
    """One line under a table: how many figures are stable, noisy, disturbed, and the interval's meaning."""
    fs = [f for f in as_figures(figures) if f.timed]
    if not fs:
        return ""
    counts = {s: sum(f.status == s for f in fs) for s in ("stable", "noisy", "disturbed")}
    levels = sorted({round(f.confidence * 100, 1) for f in fs if f.low != f.high})
    level = (f"with the {levels[0]:g}% interval of the median" if len(levels) == 1 else
             f"with the {levels[0]:g}–{levels[-1]:g}% interval of the median" if levels else "(too few runs for an interval)")
    return (f"medians of the runs {level}; {counts['stable']} stable, {counts['noisy']} noisy, "
            f"{counts['disturbed']} disturbed (busy machine)")
