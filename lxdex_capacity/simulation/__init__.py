"""The simulation behind ``lxdex simulate``: one run, defined by its scenario alone, executed in one
process or split into shards (in process or on Dask workers) with the same result."""

from .run import PhaseResult, SimulationResult, Throughput, check_memory, estimate_memory, simulate

__all__ = ["PhaseResult", "SimulationResult", "Throughput", "check_memory", "estimate_memory", "simulate"]
