"""Options that several ``lxdex`` commands share, each defined once, and what builds on them.

* the run options of ``simulate``, ``profile`` and ``report`` (``--markets``, ``--trades``,
  ``--seed``, ``--scenario``, ``--force``), with :func:`scenario_from_options`;
* the plan options of ``plan`` and ``report`` (``--orders-per-market``, ``--trades-retained``,
  ``--order-rate``, ``--safety``, ``--os-reserve``, ``--model``, ``--hardware``), with
  :func:`plan_request`; ``--model`` is also ``audit``'s, ``--hardware`` also ``hardware``'s;
* ``--json``, whose help says what it replaces (tables, a table, ...);
* the measurement options of every command that times something (``--repeats``, ``--time-budget``),
  with :func:`repeat_policy`;
* ``--max-time``, of every command whose work grows with its inputs, with :func:`max_time_allowed`
  (:mod:`lxdex_capacity.time_guard`).

Options only one command has are defined with the command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..time_guard import DEFAULT_MAX_TIME, MAX_TIME_OPTION

if TYPE_CHECKING:
    from ..capacity.plan import PlanRequest
    from ..scenarios.config import Scenario

__all__ = [
    "MARKETS_HELP", "MARKETS", "TRADES", "SEED", "SCENARIO", "FORCE", "json_option", "scenario_from_options",
    "ORDERS_PER_MARKET", "TRADES_RETAINED", "ORDER_RATE", "SAFETY", "OS_RESERVE", "MODEL_FILE", "HARDWARE_FILE", "plan_request",
    "output_path", "output_file_path", "help_text", "repeats_option", "time_budget_option", "repeat_policy",
    "MAX_TIME", "max_time_allowed", "offered_rates", "MAX_RATES",
]


def help_text(text: str) -> str:
    """``text`` as help that shows as written.  typer's rich help reads every help text as rich markup
    (the app sets ``rich_markup_mode="rich"``), where ``[machine]`` is a style tag and vanishes, so ``[``
    is escaped; click's plain help (``TYPER_USE_RICH=0``) prints help as it is, so there it is left alone.
    Any help holding a ``[`` goes through here (tests/test_cli.py checks every command's help)."""
    import typer.core
    from rich.markup import escape

    rich_help = getattr(typer.core, "HAS_RICH", None)  # TYPER_USE_RICH, read when typer is imported
    if rich_help is None:  # older typer: rich help whenever rich is installed
        rich_help = getattr(typer.core, "rich", None) is not None
    return escape(text) if rich_help else text


# --- one simulation run: simulate, profile, report (and scenario show's --markets) -------------------

MARKETS_HELP = "Markets to simulate (1 to 100,000,000); default 21,000 or the scenario file's."
MARKETS = typer.Option(None, min=1, max=100_000_000, help=MARKETS_HELP)
TRADES = typer.Option(None, min=0, help="Fills the traded phase runs until (default 1,000,000).")
SEED = typer.Option(None, min=0, help="Random seed: the same seed gives the same trades.")
SCENARIO = typer.Option(None, "--scenario", help="Scenario TOML file (see 'lxdex scenario show').")
FORCE = typer.Option(False, "--force", help="Run even if the memory estimate exceeds available memory.")


def output_path(value: str) -> Path:
    """``--out``'s parser: the path as given, refused when empty (``Path('')`` would be the current folder).
    What kind of path it must be (file or folder, writable) each command checks before it starts work."""
    if not value.strip():
        raise typer.BadParameter("must name a file or folder, not an empty string")
    return Path(value)


def output_file_path(value: str) -> Path:
    """``--out``'s parser where a file is written: also refuses ``name/``, which names a folder (and which
    ``Path`` would turn into ``name``)."""
    if value.endswith(("/", os.sep)):
        raise typer.BadParameter(f"{value!r} names a folder; give a file name")
    return output_path(value)


def json_option(help: str = "Print one JSON object instead of tables.") -> Any:
    """``--json``: the result as JSON on stdout instead of rich tables; ``help`` says what it replaces."""
    return typer.Option(False, "--json", help=help)


def scenario_from_options(scenario_file: Path | None, **overrides: Any) -> Scenario:
    """The scenario file's (or the default) scenario, with the options that were given replacing its values."""
    from ..scenarios.config import Scenario, load_scenario

    scenario = load_scenario(scenario_file) if scenario_file else Scenario()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return scenario.replace(**changes) if changes else scenario


# --- repeated measurements: bench, latency, simulate, sweep, plan, audit, report ---------------------


def repeats_option(what: str = "Runs of each timed measurement", default_text: str = "adaptive") -> Any:
    """``--repeats N``: exactly N recorded runs; by default (``None``) repeat until the interval is tight or the time budget is spent."""
    return typer.Option(None, "--repeats", min=1, max=1000,
                        help=f"{what}; figures are medians with the interval of the median (default: {default_text}: at least 5 "
                             "quiet runs, more until the interval is within ±5% or --time-budget is spent).")


def time_budget_option(default: float, what: str = "each timed measurement") -> Any:
    """``--time-budget SECONDS``: how long adaptive repeats of ``what`` may go on."""
    return typer.Option(default, "--time-budget", min=0.001, max=86_400.0,
                        help=f"Seconds that adaptive repeats of {what} may take (ignored with --repeats); three runs are always made.")


def repeat_policy(repeats: int | None, time_budget: float, warmup: int = 1) -> Any:
    """The :class:`~lxdex_capacity.measure.RepeatPolicy` of ``--repeats`` and ``--time-budget``."""
    from ..measure import RepeatPolicy

    return RepeatPolicy(repeats=repeats, warmup=warmup, budget_s=time_budget)


# --- a capacity plan: plan, report ----------------------------------------------------------------

ORDERS_PER_MARKET = typer.Option(None, min=0, help="Mean resting orders per market (default: the tier table's mean at this size).")
TRADES_RETAINED = typer.Option(None, min=0, help="Trades kept in memory, all engines together (default: one engine's tape capacity, 262,144, as simulate keeps; the published report counted 1,000,000).")
ORDER_RATE = typer.Option(1_000_000, min=0, help="Orders per second the exchange must sustain.")
SAFETY = typer.Option(2.0, min=1.0, max=100.0, help="Multiplier on the engine's predicted bytes: pools double when full, so a process may hold up to twice what its books use.")
OS_RESERVE = typer.Option(4.0, min=0.0, help="GiB of each machine's memory left to the OS and everything else.")
MODEL_FILE = typer.Option(None, "--model", help="Model JSON from 'lxdex sweep' (default: the reference model shipped with the package).")
HARDWARE_FILE = typer.Option(None, "--hardware", help=help_text("TOML file of extra hardware profiles ([[machine]] tables, shaped "
                                                                  "like the built-in table; see README)."))


def plan_request(markets: int, orders_per_market: float | None, trades_retained: int | None, order_rate: float,
                 safety: float, os_reserve: float, engines: int | None = None) -> PlanRequest:
    """The :class:`~lxdex_capacity.capacity.plan.PlanRequest` the plan options describe, for ``markets`` markets;
    a value out of range is an error naming its option (``--order-rate=1e+16: ...``)."""
    from ..capacity.plan import PlanRequest
    from ..errors import InputError

    try:
        return PlanRequest(markets=markets, orders_per_market=orders_per_market, trades_retained=trades_retained,
                           safety=safety, os_reserve_gib=os_reserve, order_rate=order_rate, engines=engines)
    except InputError as exc:
        field, _, rest = str(exc).partition("=")
        option = {"os_reserve_gib": "os-reserve"}.get(field, field.replace("_", "-"))
        raise InputError(f"--{option}={rest}") from None


# --- the time a run may take: every command whose work grows with its inputs ----------------------

MAX_TIME = typer.Option(
    DEFAULT_MAX_TIME, MAX_TIME_OPTION, metavar="DURATION",
    help="Refuse, before starting, a run estimated to take longer than this (90s, 30m, 3h, 2d; 'none': no limit). The "
         "estimate comes from the reference model's time per order and the run's own sizes; a run is never stopped once started.")


def max_time_allowed(text: str) -> float | None:
    """``--max-time``'s seconds (None: no limit); a value that is no duration is one error line naming the option."""
    from ..time_guard import parse_max_time

    return parse_max_time(text)


MAX_RATES = 100  # offered rates in one run: more is no chart anyone reads, and each rate is a measurement of its own


def offered_rates(text: str, option: str, example: str = "200000,1000000,3000000") -> list[float]:
    """Comma-separated offered rates, orders per second, each from 1 to 10^10, at most :data:`MAX_RATES` of them
    (``--rates``, ``--latency-rates``)."""
    from ..errors import InputError

    if text.count(",") >= MAX_RATES:  # counted before any is parsed: a list of millions is refused at once
        raise InputError(f"{option}: {text.count(',') + 1:,} rates; at most {MAX_RATES} in one run")
    try:
        if not text.isascii():  # float() reads other scripts' digits too
            raise ValueError(text)
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"{option}={text!r}: must be comma-separated orders per second, e.g. {example}") from None
    bad = [rate for rate in rates if not 1 <= rate <= 1e10]
    if bad:
        raise InputError(f"{option}={text!r}: {bad[0]!r} is not an order rate from 1 to 10,000,000,000 per second")
    return rates

