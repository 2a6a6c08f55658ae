"""Profilers: what the engine costs in bytes and what it sustains in operations per second."""
