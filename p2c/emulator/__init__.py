"""A local emulator of the Dataverse Web API (and of the Entra token service) for p2c-dualwrite.

It follows the documented contract in `shared/reference` (see `tools/emulator_schema_gen.py`), not the
project's own dbt contracts, so that the upload client can be tested against something it did not define.
Public entry points:

* `run_emulator(...)`: foreground HTTPS server until SIGINT/SIGTERM (`python -m p2c.emulator`);
* `running_emulator(...)`: the same on a background thread, as a context manager yielding `RunningEmulator`;
* `EmulatorState(path)`: read the state file directly (rows, counts of writes)."""

from p2c.emulator.faults import Faults, parse_faults
from p2c.emulator.limits import Limits, parse_limits
from p2c.emulator.server import DEFAULT_TENANT, RunningEmulator, run_emulator, running_emulator
from p2c.emulator.state import EmulatorState

__all__ = [
    "DEFAULT_TENANT",
    "EmulatorState",
    "Faults",
    "Limits",
    "RunningEmulator",
    "parse_faults",
    "parse_limits",
    "run_emulator",
    "running_emulator",
]
