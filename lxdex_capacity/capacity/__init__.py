"""Capacity planning: hardware profiles, the fitted cost model, sweeps and plans."""
