"""Prometheus metrics at /metrics: requests by endpoint, their latency, report submissions,
key unwraps by kind.

Labels are Flask endpoint names (``reporter.case``), never URLs: a URL carries tenant slugs,
case ids and, on reporter routes, nothing that may be kept at all; an endpoint name is one of
a fixed, small set and says nothing about who asked.

Under gunicorn every worker is its own process. ``appliance serve`` then points
prometheus_client at ``METRICS_DIR`` (PROMETHEUS_MULTIPROC_DIR, emptied at each start) and
every worker writes its counters to files there; /metrics adds up all workers' files, so a
scrape shows the whole service whichever worker answers it. Without ``METRICS_DIR`` (a
single process: tests, ``./scripts/run``) the app's own registry is read directly.

Key unwraps are counted by the domain (``AppContext.unwraps``, a plain counter: the domain
needs no metrics library); after each request and before each scrape the increase since the
last copy is added to ``appliance_key_unwraps_total{kind}``, which under gunicorn lands in the
worker's own file like every other counter. Unwraps by the CLI and the scheduler happen in
other processes and are not counted here; the logbook has every one of them.

The installation's health (appliance/operations/health.py: backup ages, sites, jobs, open and
overdue cases, the logbook check, expiring API tokens) is read from the database at each scrape,
metadata only, and added after the counters; it is the same whichever worker answers.

Who may read it: the route's policy is ``monitoring``; nginx (nginx/appliance.conf) lets only
the monitoring network through, and the application listens on a unix socket only nginx
reaches. The numbers carry no content, no names and no addresses.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from appliance.backup.sites import parse_sites
from appliance.context import AppContext
from appliance.crypto.unwraps import UnwrapCounter
from appliance.operations.health import Gauge, health, unreachable
from webapp.policy import access

blueprint = Blueprint("metrics", __name__)
EXTENSION = "appliance_metrics"
UNMATCHED = "unmatched"  # 404s and 405s: no endpoint, and the URL is not a label
SUBMIT_ENDPOINT = "reporter.report"
# Seconds; the long tail is uploads of large attachments.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class AppMetrics:
    """The metric objects of one application (their own registry: no process-wide state)."""

    registry: CollectorRegistry
    multiprocess_dir: Path | None
    requests: Counter
    latency: Histogram
    submissions: Counter
    unwraps: Counter
    _unwraps_copied: dict[str, int] = field(default_factory=dict)
    _unwraps_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, multiprocess_dir: Path | None) -> AppMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            multiprocess_dir=multiprocess_dir,
            requests=Counter("appliance_http_requests", "HTTP requests answered, by endpoint, method and status.",
                             ("endpoint", "method", "status"), registry=registry),
            latency=Histogram("appliance_http_request_duration_seconds",
                              "Time to produce a response (streamed bodies not included), by endpoint.",
                              ("endpoint",), buckets=LATENCY_BUCKETS, registry=registry),
            submissions=Counter("appliance_report_submissions", "Reports submitted through the reporter portal.",
                                registry=registry),
            unwraps=Counter("appliance_key_unwraps", "Keys unwrapped, by kind (tenant_key, installation_key, "
                            "content_key, person_key, ...); each one is also in the logbook.", ("kind",),
                            registry=registry),
        )

    def copy_unwraps(self, counter: UnwrapCounter) -> None:
        """Add what the domain counted since the last copy (a Prometheus counter only goes up)."""
        with self._unwraps_lock:
            for kind, total in counter.totals().items():
                increase = total - self._unwraps_copied.get(kind, 0)
                if increase > 0:
                    self.unwraps.labels(kind).inc(increase)
                    self._unwraps_copied[kind] = total

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        # A fresh registry per scrape, as prometheus_client's multiprocess mode requires.
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=str(self.multiprocess_dir))
        return generate_latest(combined)


def install(app: Flask, multiprocess_dir: Path | None) -> None:
    """Count every request of ``app``; register before the access checks so refused
    requests (403, redirects to sign-in) are timed too."""
    app.extensions[EXTENSION] = AppMetrics.create(multiprocess_dir)
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(blueprint)


def _metrics() -> AppMetrics:
    found: AppMetrics = current_app.extensions[EXTENSION]
    return found


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    metrics = _metrics()
    endpoint = request.endpoint or UNMATCHED
    metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
    # The portal marks a report it stored (a refused form or a repeat of a stored one stores nothing).
    if endpoint == SUBMIT_ENDPOINT and request.method == "POST" and g.get("report_stored"):
        metrics.submissions.inc()
    metrics.copy_unwraps(_context().unwraps)
    return response


def _context() -> AppContext:
    found: AppContext = current_app.extensions["appliance"]
    return found


@blueprint.get("/metrics")
@access("monitoring")
def metrics() -> Response:
    found = _metrics()
    found.copy_unwraps(_context().unwraps)  # in one process, this scrape's own view is current
    return Response(found.exposition() + health_exposition(_context()), content_type=CONTENT_TYPE_LATEST)


class HealthCollector(Collector):
    """The health gauges of one scrape, as prometheus_client metric families."""

    def __init__(self, gauges: list[Gauge]) -> None:
        self._gauges = gauges

    def collect(self) -> list[Metric]:
        families: list[Metric] = []
        for gauge in self._gauges:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            for labels, value in gauge.samples:
                family.add_metric(labels, value)
            families.append(family)
        return families


def health_exposition(context: AppContext) -> bytes:
    """Read the health gauges in a short read-only transaction of their own (the request's unit
    of work stays untouched); a database that does not answer is reported, not raised."""
    sites = tuple(spec.name for spec in parse_sites(context.settings.backup_sites))
    try:
        with context.sessions() as session:
            gauges = health(session, context.clock(), sites)
    except sa.exc.SQLAlchemyError:
        current_app.logger.warning("metrics: the database did not answer")
        gauges = unreachable()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(gauges))
    return generate_latest(registry)
