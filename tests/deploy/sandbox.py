"""Run a command under the seccomp rules systemd/appliance-web.service asks systemd for.

systemd is not PID 1 in the test environment, so it cannot start the unit; instead its two
seccomp-based settings are reproduced, the way systemd installs them, and the command is
exec'd under them (the rules survive fork and execve, so gunicorn's workers inherit them):

* ``MemoryDenyWriteExecute=yes`` — systemd's ``seccomp_memory_deny_write_execute()``
  (src/shared/seccomp-util.c), each refused call failing with EPERM: ``mmap`` with both
  PROT_WRITE and PROT_EXEC, ``mprotect``/``pkey_mprotect`` adding PROT_EXEC, ``shmat`` with
  SHM_EXEC; plus, where the kernel has it (Linux >= 6.3), ``prctl(PR_SET_MDWE,
  PR_MDWE_REFUSE_EXEC_GAIN)``, which newer systemd versions use for the same setting.
* ``SystemCallFilter=`` — the unit's lines merged in order as systemd merges them (an allow
  list when the first line is one: @default plus the named sets, ``~`` lines remove, later
  plain lines add back), the sets expanded by this host's ``systemd-analyze syscall-filter``;
  any other call fails with ``SystemCallErrorNumber=`` (EPERM). Only the native
  architecture is allowed (``SystemCallArchitectures=native``).

Usage: ``python tests/deploy/sandbox.py UNIT_FILE COMMAND [ARG...]``; exit 125 when the rules
cannot be installed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import subprocess
import sys
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_CMP_MASKED_EQ = 7
SHM_EXEC = 0o100000
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


class _ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


# MemoryDenyWriteExecute: (system call, argument index, flags that must not all be set)
MDWE_RULES = (
    ("mmap", 2, mmap.PROT_WRITE | mmap.PROT_EXEC),
    ("mprotect", 2, mmap.PROT_EXEC),
    ("pkey_mprotect", 2, mmap.PROT_EXEC),
    ("shmat", 2, SHM_EXEC),
)


def libseccomp_path() -> str | None:
    return ctypes.util.find_library("seccomp")


def _libseccomp() -> ctypes.CDLL:
    path = libseccomp_path()
    if path is None:
        raise OSError("libseccomp is not installed")
    lib = ctypes.CDLL(path, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _load(lib: ctypes.CDLL, default: int, rules: list[tuple[int, int, _ArgCmp | None]]) -> None:
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise OSError("seccomp_init failed")
    try:
        for number, action, condition in rules:
            rc = lib.seccomp_rule_add_array(ctx, action, number, 1 if condition else 0,
                                            ctypes.byref(condition) if condition else None)
            if rc != 0:
                raise OSError(-rc, f"seccomp rule for system call {number}: {os.strerror(-rc)}")
        rc = lib.seccomp_load(ctx)  # sets no_new_privs first, as NoNewPrivileges=yes does
        if rc != 0:
            raise OSError(-rc, f"seccomp_load: {os.strerror(-rc)}")
    finally:
        lib.seccomp_release(ctx)


def install_mdwe() -> None:
    lib = _libseccomp()
    rules = []
    for name, arg, flags in MDWE_RULES:
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number >= 0:
            rules.append((number, SCMP_ACT_ERRNO | errno.EPERM, _ArgCmp(arg, SCMP_CMP_MASKED_EQ, flags, flags)))
    _load(lib, SCMP_ACT_ALLOW, rules)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def syscall_sets(systemd_analyze: str) -> dict[str, list[str]]:
    """The named sets (@system-service, ...) as this host's systemd defines them."""
    listing = subprocess.run([systemd_analyze, "syscall-filter", "--no-pager"], check=True, capture_output=True,
                             text=True, timeout=60).stdout
    sets: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in listing.splitlines():
        if line.startswith("@"):
            current = sets.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
        elif not line.strip():
            current = None
    return sets


def expand(name: str, sets: dict[str, list[str]]) -> set[str]:
    if not name.startswith("@"):
        return {name}
    if name not in sets:
        raise KeyError(f"unknown system call set {name}")
    calls: set[str] = set()
    for item in sets[name]:
        calls |= expand(item, sets)
    return calls


def allowed_syscalls(filter_lines: list[str], sets: dict[str, list[str]]) -> set[str]:
    """SystemCallFilter= lines merged the way systemd merges them (allow-list mode only)."""
    assert filter_lines and not filter_lines[0].startswith("~"), "only an allow list is emulated"
    allowed = expand("@default", sets)
    for line in filter_lines:
        remove = line.startswith("~")
        for item in line.removeprefix("~").split():
            allowed = allowed - expand(item, sets) if remove else allowed | expand(item, sets)
    return allowed


def install_syscall_filter(allowed: set[str], error: int) -> None:
    lib = _libseccomp()
    rules = []
    for name in sorted(allowed):
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number >= 0:  # names of other architectures (chown32, ...) do not resolve here
            rules.append((number, SCMP_ACT_ALLOW, None))
    _load(lib, SCMP_ACT_ERRNO | error, rules)


def unit_values(unit: Path, key: str) -> list[str]:
    prefix = f"{key}="
    return [line[len(prefix):] for line in unit.read_text("utf-8").splitlines() if line.startswith(prefix)]


def apply_unit(unit: Path, systemd_analyze: str) -> None:
    """Install the unit's seccomp settings on this process; the filter goes last, as in systemd."""
    if unit_values(unit, "MemoryDenyWriteExecute") == ["yes"]:
        install_mdwe()
    filters = unit_values(unit, "SystemCallFilter")
    if filters:
        assert unit_values(unit, "SystemCallArchitectures") == ["native"]
        (error,) = unit_values(unit, "SystemCallErrorNumber") or ["EPERM"]
        allowed = allowed_syscalls(filters, syscall_sets(systemd_analyze))
        install_syscall_filter(allowed, getattr(errno, error))


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: sandbox.py UNIT_FILE COMMAND [ARG...]")
    analyze = os.environ.get("SYSTEMD_ANALYZE", "systemd-analyze")
    try:
        apply_unit(Path(argv[0]), analyze)
    except (OSError, subprocess.CalledProcessError, KeyError) as exc:
        print(f"sandbox: cannot install the unit's seccomp rules: {exc}", file=sys.stderr)
        sys.exit(125)
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
