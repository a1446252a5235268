"""python -m tests.bench [--quick] [--backend B] [--minutes N] [NAME ...]: run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from tests.bench import (
    api,
    backup,
    handler_queue,
    insiders,
    large_upload,
    logbook_room,
    sealed_keys,
    soak,
    submissions,
    web,
)
from tests.bench.common import BACKENDS, Figures

BENCHMARKS: dict[str, Callable[[bool, Sequence[str]], Figures]] = {
    "submissions": submissions.run,
    "queue": handler_queue.run,
    "upload": large_upload.run,
    "sealed-keys": sealed_keys.run,
    "backup": backup.run,
    "api": api.run,
    "logbook": logbook_room.run,
    "insiders": insiders.run,
    "soak": soak.run,
    "web": web.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which benchmarks ({', '.join(BENCHMARKS)}; default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the code, not the figures")
    parser.add_argument("--backend", action="append", choices=BACKENDS,
                        help="only this database backend (repeatable; default: all)")
    parser.add_argument("--minutes", type=float, default=1.0,
                        help="soak: how long the load runs (default: 1; --quick: a few seconds)")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    started = time.perf_counter()
    for name in arguments.names or BENCHMARKS:
        if name == "soak":
            soak.run(arguments.quick, arguments.backend or BACKENDS, minutes=arguments.minutes)
        else:
            BENCHMARKS[name](arguments.quick, arguments.backend or BACKENDS)
    print(f"benchmarks done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
