"""The seccomp settings of systemd/appliance-web.service, checked without systemd.

tests/deploy/sandbox.py installs what systemd installs for MemoryDenyWriteExecute= and
SystemCallFilter=; these tests show the rules bite, and that the libraries built on cffi
(argon2-cffi) or native code (cryptography, sqlcipher3, psycopg, pymssql) work under them.
test_nginx.py runs the whole gunicorn behind nginx under the same rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.deploy import sandbox
from tests.deploy.stack import REPO, UNIT, sandbox_command

pytestmark = pytest.mark.deploy


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    wrapped = sandbox_command([sys.executable, "-c", textwrap.dedent(code)])
    if wrapped is None:
        pytest.skip("systemd-analyze or libseccomp is missing (./scripts/test installs the systemd package)")
    command, env = wrapped
    return subprocess.run(command, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_the_filter_is_systemds_allow_list_minus_the_denied_sets() -> None:
    wrapped = sandbox_command(["true"])
    if wrapped is None:
        pytest.skip("systemd-analyze or libseccomp is missing (./scripts/test installs the systemd package)")
    sets = sandbox.syscall_sets(wrapped[1]["SYSTEMD_ANALYZE"])
    allowed = sandbox.allowed_syscalls(sandbox.unit_values(UNIT, "SystemCallFilter"), sets)
    assert {"read", "write", "openat", "socket", "connect", "accept4", "execve", "clone", "getrandom"} <= allowed
    assert {"chown", "fchownat"} <= allowed  # gunicorn chowns its unix socket to itself
    for name in ("setuid", "setgroups", "mount", "reboot", "init_module", "ptrace", "setrlimit",
                 "sched_setaffinity", "bpf", "kexec_load", "swapon"):
        assert name not in allowed, name


def test_the_rules_refuse_what_the_unit_forbids() -> None:
    done = run_python("""
        import ctypes, mmap, os
        try:
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except PermissionError:
            print("mmap W+X refused")
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        page = libc.mmap(None, 4096, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        assert page not in (None, ctypes.c_void_p(-1).value)
        if libc.mprotect(page, 4096, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            print("mprotect +X refused")
        import cffi
        try:
            cffi.FFI().callback("int(int)", lambda x: x)
        except MemoryError:
            print("cffi callback refused")
        for call in (lambda: os.setuid(os.getuid()), lambda: os.setpriority(os.PRIO_PROCESS, 0, 5)):
            try:
                call()
            except PermissionError:
                print("privileged call refused")
    """)
    assert done.returncode == 0, done.stderr
    # The old-style cffi callback is exactly what MemoryDenyWriteExecute breaks: no
    # dependency of the web application may use it.
    assert done.stdout.splitlines() == ["mmap W+X refused", "mprotect +X refused", "cffi callback refused",
                                        "privileged call refused", "privileged call refused"]


def test_crypto_and_database_libraries_work_under_the_rules() -> None:
    done = run_python("""
        import argon2, os, sqlcipher3
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.hashes import SHA256
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        import psycopg, pymssql  # their native extensions load

        hasher = argon2.PasswordHasher()  # the production parameters (RFC 9106, 64 MiB, 4 lanes)
        assert hasher.verify(hasher.hash("correct horse"), "correct horse")
        key = HKDF(SHA256(), 32, None, b"test").derive(os.urandom(32))
        nonce = os.urandom(12)
        assert AESGCM(key).decrypt(nonce, AESGCM(key).encrypt(nonce, b"report", b"aad"), b"aad") == b"report"
        a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        assert a.exchange(b.public_key()) == b.exchange(a.public_key())
        db = sqlcipher3.connect(":memory:")
        db.execute("PRAGMA key = \\"x'" + os.urandom(32).hex() + "'\\"")
        db.execute("CREATE TABLE t (v TEXT)")
        db.execute("INSERT INTO t VALUES ('ok')")
        assert db.execute("SELECT v FROM t").fetchone() == ("ok",)
        print("all good")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "all good"


SCHEDULER = REPO / "systemd" / "appliance-scheduler.service"


def run_under_scheduler(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    wrapped = sandbox_command(argv, unit=SCHEDULER)
    if wrapped is None:
        pytest.skip("systemd-analyze or libseccomp is missing (./scripts/test installs the systemd package)")
    command, extra = wrapped
    return subprocess.run(command, cwd=REPO, env={**os.environ, **env, **extra}, capture_output=True, text=True,
                          timeout=120)


def test_the_schedulers_backup_tools_work_under_its_rules(tmp_path: Path) -> None:
    # The backup jobs run restic (Go) and, for SFTP sites, ssh: a restic repository is made,
    # written and checked under the scheduler unit's MemoryDenyWriteExecute= and filter.
    restic = shutil.which("restic")
    if restic is None:
        pytest.skip("restic is not installed (./scripts/test installs it with apt-get)")
    (tmp_path / "password").write_text("correct horse battery staple\n")
    (tmp_path / "data.txt").write_text("backup me\n")
    env = {"RESTIC_REPOSITORY": str(tmp_path / "repo"), "RESTIC_PASSWORD_FILE": str(tmp_path / "password"),
           "RESTIC_CACHE_DIR": str(tmp_path / "cache")}
    for argv in (["init"], ["backup", "--quiet", str(tmp_path / "data.txt")], ["check"]):
        done = run_under_scheduler([restic, *argv], env)
        assert done.returncode == 0, f"restic {argv}: {done.stdout}{done.stderr}"
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is not None:
        done = run_under_scheduler([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], {})
        assert done.returncode == 0, done.stderr


def test_crypto_and_database_libraries_work_under_the_schedulers_rules() -> None:
    done = run_under_scheduler([sys.executable, "-c", textwrap.dedent("""
        import argon2, sqlcipher3, psycopg, pymssql, prometheus_client
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        hasher = argon2.PasswordHasher(memory_cost=1024, parallelism=1)
        assert hasher.verify(hasher.hash("x"), "x")
        print("all good")
    """)], {})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "all good"
