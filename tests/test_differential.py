"""The engine against the reference matcher on large seeded random flows (all order types,
cancels, reduces, amends, invalid orders, pool growth mid-batch)."""

from __future__ import annotations

import pytest

from helpers.differential import Differential


@pytest.mark.parametrize("seed, n_markets", [(11, 1), (12, 7), (13, 40)])
def test_engine_matches_reference_on_seeded_flows(seed, n_markets):
    stats = Differential(n_markets, seed).run(70_000)
    assert stats.operations >= 70_000
    # The flow must really exercise the engine, or agreement proves little.
    assert stats.trades > 10_000 and stats.cancels > 10_000 and stats.reduces > 5_000
    assert stats.amends > 5_000 and stats.replaced > 2_000


@pytest.mark.slow
def test_engine_matches_reference_on_a_long_flow():
    stats = Differential(200, seed=99).run(400_000, max_batch=256, check_every=100_000)
    assert stats.trades > 50_000
