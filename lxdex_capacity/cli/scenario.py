"""``lxdex scenario show``: the effective scenario parameters and what they imply."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import HelpGroup, app
from .options import MARKETS, json_option, scenario_from_options
from .render import print_json
from .render.simulation import print_scenario

scenario_app = typer.Typer(help="Scenario parameters.", no_args_is_help=True, cls=HelpGroup)
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("show")
def scenario_show(
    scenario_file: Path | None = typer.Option(None, "--scenario", help="Scenario TOML file to read."),
    markets: int | None = MARKETS,
    as_json: bool = json_option(),
) -> None:
    """Print the effective scenario parameters, with what they imply (activity exponent, depth, memory)."""
    from ..capacity.estimator import Estimator, Load
    from ..scenarios import zipf_exponent_for_share
    from ..scenarios.universe import Universe
    from ..simulation.run import estimate_memory, expected_resting

    scenario = scenario_from_options(scenario_file, markets=markets)
    universe = Universe(scenario.markets, scenario.securities_share)
    derived = {
        "zipf_exponent": zipf_exponent_for_share(scenario.markets, scenario.flow_share, scenario.market_share),
        "expected_resting_orders": expected_resting(scenario),
        "securities": universe.securities,
        "crypto": universe.crypto,
        "estimate_bytes": estimate_memory(scenario),  # the memory guard's figure: simulate's peak
        "estimate": (estimate := Estimator.default().estimate(load := Load.of_scenario(scenario))).as_dict(),
        "engines_needed": load.engines_needed(estimate.price_levels),
        "sample_symbols": [universe.symbol(m) for m in range(min(scenario.markets, 8))],
    }
    if as_json:
        print_json({"scenario": scenario.as_dict(), "derived": derived})
    else:
        print_scenario(scenario, derived, scenario_file)
