import os
import sys
from pathlib import Path

# What the tests share lives in tests/helpers, imported as ``helpers`` (run_cli, the differential
# driver, synthetic LOBSTER days): this folder on the path, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))


import pytest


def pytest_configure(config):  # type: ignore[no-untyped-def]
    config.addinivalue_line("markers", "machine_state: the test looks at this machine's real state (busy or quiet); "
                                       "every other test sees every measuring window as quiet")


def _quiet(self):  # type: ignore[no-untyped-def]
    return []


@pytest.fixture(autouse=True, scope="session")
def _quiet_windows_for_every_fixture():  # type: ignore[no-untyped-def]
    """Every measuring window quiet from the first test on, for module- and session-scoped fixtures too: pytest sets
    those up before any test's own fixtures, so a report a module's tests share was measured on the real machine and
    lost its calibration when the machine was busy.  Yields the real ``busy_reasons`` for tests marked ``machine_state``."""
    from lxdex_capacity.measure.state import MachineState

    real = MachineState.__dict__["busy_reasons"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MachineState, "busy_reasons", _quiet)
        yield real


@pytest.fixture(autouse=True)
def _quiet_windows(request, monkeypatch, _quiet_windows_for_every_fixture):  # type: ignore[no-untyped-def]
    """What a test asserts must not depend on what else the machine runs (the suite passes with a CPU hog beside it):
    every measuring window is quiet, except in tests marked ``machine_state``, which look at the real machine.  (The
    module is imported again here: a test that reloads the package gets a class of its own.)"""
    from lxdex_capacity.measure.state import MachineState

    real = request.node.get_closest_marker("machine_state") is not None
    monkeypatch.setattr(MachineState, "busy_reasons", _quiet_windows_for_every_fixture if real else _quiet)


# The real call, held before any test can replace ``os.sched_setaffinity`` (a test's monkeypatch may be undone
# after this fixture's teardown, the order pytest gives fixtures not being the order they were asked for).
_set_affinity = getattr(os, "sched_setaffinity", None)


@pytest.fixture(autouse=True)
def restore_cpu_affinity():  # type: ignore[no-untyped-def]
    """``bench``, run in this process, pins it to its cores: every test gives the test process its CPUs back."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    yield
    if cpus is not None and _set_affinity is not None:
        _set_affinity(0, cpus)


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap():  # type: ignore[no-untyped-def]
    """What earlier modules left alive (imports, caches, fixtures) moved out of the collector's sight: simulate and
    profile collect garbage before every memory sample, and a full collection walks every tracked object, so in a
    suite's large heap each cost a second of nothing.  Garbage of earlier modules is collected first."""
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()
    yield
