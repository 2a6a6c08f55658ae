"""Replay of real exchange data (LOBSTER) through the engine, and scenario calibration from it."""
