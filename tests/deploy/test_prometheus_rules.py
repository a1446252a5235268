"""deploy/prometheus/alerts.yml: valid rules (promtool check rules), each one unit-tested
(promtool test rules with alerts_test.yml), and every metric a rule reads is one the appliance
exports (or blackbox_exporter's certificate expiry). ./scripts/test installs promtool (Debian's
prometheus package)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = RULES_DIR / "alerts.yml"
RULE_TESTS = RULES_DIR / "alerts_test.yml"
EXPORTED_ELSEWHERE = {"probe_ssl_earliest_cert_expiry"}  # blackbox_exporter, http module
HEALTH = Path(__file__).resolve().parents[2] / "appliance" / "operations" / "health.py"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: ./scripts/test installs it (apt-get install prometheus)")
    return subprocess.run([found, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False)


def alerts() -> list[dict[str, str]]:
    groups = yaml.safe_load(RULES.read_text("utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_rules_are_valid() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_every_rule_passes_its_unit_tests() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_test_that_fires_it() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text("utf-8"))["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {rule["alert"] for rule in alerts()} == fired


def test_rules_read_only_metrics_that_exist() -> None:
    exported = set(re.findall(r'Gauge\("(appliance_[a-z_]+)"', HEALTH.read_text("utf-8"))) | EXPORTED_ELSEWHERE
    for rule in alerts():
        used = set(re.findall(r"\b(appliance_[a-z_]+|probe_[a-z_]+)", rule["expr"]))
        assert used and used <= exported, (rule["alert"], used - exported)
