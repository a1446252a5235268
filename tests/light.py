"""The test suite's one light argon2 setting, in each form a test hands it over.

Production parameters (time 3, 64 MiB, 4 lanes) make every sign-in, key unseal and escrow
file cost a real fraction of a second; the suite uses the lightest valid setting instead. The
production parameters have their own tests (tests/unit/crypto/test_passwords.py,
tests/unit/test_settings.py) and the benchmarks (tests/bench) time them.
"""

from __future__ import annotations

from appliance.crypto.passwords import Argon2Params

LIGHT_ARGON2 = Argon2Params(time_cost=1, memory_kib=256, parallelism=1)

# As Settings fields (tests/support.make_settings), as the environment a console script reads,
# and as lines of an appliance.toml.
LIGHT = {"argon2_time_cost": LIGHT_ARGON2.time_cost, "argon2_memory_kib": LIGHT_ARGON2.memory_kib,
         "argon2_parallelism": LIGHT_ARGON2.parallelism}
LIGHT_ENV = {f"APPLIANCE_{name.upper()}": str(value) for name, value in LIGHT.items()}
LIGHT_TOML = "".join(f"{name} = {value}\n" for name, value in LIGHT.items())
