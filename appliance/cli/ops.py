"""`appliance serve` (`appliance doctor` is in doctor.py)."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

import click

from appliance.cli.base import Runtime, pass_runtime
from appliance.errors import BindFailed


@click.command()
@click.option("--bind", default=None, help="host:port or unix:/path (default: the BIND setting).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes (default: WORKERS).")
@pass_runtime
def serve(runtime: Runtime, bind: str | None, workers: int | None) -> None:
    """Serve the web application with gunicorn (put nginx in front in production)."""
    settings = runtime.settings
    context = runtime.context  # fail here, with one line, if the config/key/DB are wrong
    context.ephemeral.ensure()  # ...or RUNTIME_DIR cannot be used
    context.close()
    check_bind(bind or settings.bind)  # one line, not gunicorn's retries and traceback
    args = gunicorn_command(bind or settings.bind, workers or settings.workers, settings.threads)
    if settings.config_path:
        os.environ["APPLIANCE_CONFIG"] = str(settings.config_path)
    if settings.metrics_dir is not None:
        reset_metrics_dir(settings.metrics_dir)
        # prometheus_client's multiprocess mode is chosen by this variable when the workers
        # import it: each worker then writes its counters to files that /metrics adds up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.metrics_dir)
    click.echo(f"serving on {bind or settings.bind}", err=True)
    os.execv(args[0], args)  # noqa: S606 (fixed argv, no shell)


def gunicorn_command(bind: str, workers: int, threads: int, app: str = "webapp.wsgi:app") -> list[str]:
    """gunicorn's argv for ``app`` as `appliance serve` runs it (tests/bench/web.py serves a bare
    Flask page under the very same settings)."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # Threaded workers: the worker keeps its heartbeat while a slow reporter streams a large
    # upload (nginx passes uploads through unbuffered, so nothing waits in clear on its disk);
    # a sync worker would be killed at --timeout in the middle of such an upload.
    return [str(gunicorn), "--bind", bind, "--workers", str(workers), "--worker-class", "gthread",
            "--threads", str(threads),
            # gunicorn's heartbeat files: RAM-backed where possible (not a data path)
            "--worker-tmp-dir", "/dev/shm" if Path("/dev/shm").is_dir() else "/tmp",  # noqa: S108
            "--forwarded-allow-ips", "127.0.0.1", "--graceful-timeout", "20", "--timeout", "120",
            "--log-level", "warning", "--no-control-socket", app]


def check_bind(bind: str) -> None:
    """Refuse, in one line, an address something else listens on (or that cannot be bound)."""
    if bind.startswith("unix:"):
        path = bind.removeprefix("unix:")
        if not os.path.exists(path):
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except OSError:
                return  # a stale socket file: gunicorn replaces it
        raise BindFailed(bind, "a server already listens on this socket (another `appliance serve`?)")
    host, _, port_text = bind.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 (an empty host means every address, as for gunicorn)
    try:
        port = int(port_text)
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (ValueError, OSError):
        raise BindFailed(bind, "not an address; use HOST:PORT or unix:PATH") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host, port))
        except OSError as exc:
            reasons = {errno.EADDRINUSE: "the address is already in use (another `appliance serve` or another "
                                         "program); stop it or choose another with --bind or BIND",
                       errno.EACCES: "permission denied (ports below 1024 need privileges; use nginx in front)",
                       errno.EADDRNOTAVAIL: "not an address of this host"}
            raise BindFailed(bind, reasons.get(exc.errno or 0, exc.strerror or "cannot bind")) from None


def reset_metrics_dir(path: Path) -> None:
    """Empty the multiprocess metrics directory: counters of a previous run's workers (their
    pids may be reused) must not be added to this run's."""
    if path.is_dir():
        for entry in path.iterdir():
            if entry.is_file() and entry.suffix == ".db":
                entry.unlink()
    else:
        path.mkdir(mode=0o700, parents=True)
