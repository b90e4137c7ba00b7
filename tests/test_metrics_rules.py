"""The shipped alert rules and dashboard use only exported metrics, and promtool accepts them.

``promtool`` (Debian's ``prometheus`` package ships it) is run when it is on PATH:
``check rules`` on the rules file, ``test rules`` on tests/metrics_alerts_test.yml
(alerts firing on given series), and ``check rules`` on every dashboard query wrapped
as a recording rule. Without it those tests are skipped with the reason; the YAML and
name checks always run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from feeds.metrics import METRICS, resource_path
from feeds.metrics import docs as metrics_docs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus provides it)"
)

EXPORTED = set()
for _m in METRICS:
    if _m.kind == "histogram":
        EXPORTED |= {_m.name + s for s in ("_bucket", "_count", "_sum")}
    else:
        EXPORTED.add(_m.name)
NAME = re.compile(r"\bwexbook_[a-z_]+")
LABELS = {label for m in METRICS for label in m.labels} | {"instance", "job", "le"}


def rules() -> list[dict]:
    doc = yaml.safe_load(resource_path("alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    doc = json.loads(resource_path("dashboard.json").read_text())
    return [t["expr"] for p in doc["panels"] for t in p["targets"]]


def test_every_rule_names_only_exported_metrics_and_labels() -> None:
    found = rules()
    wanted = {"WexbookBookNotLive", "WexbookGapRate", "WexbookResyncStorm", "WexbookStaleStream",
              "WexbookSnapshotRateLimited", "WexbookReconnectLoop"}  # fmt: skip
    assert wanted <= {r["alert"] for r in found}
    for rule in found:
        names = set(NAME.findall(rule["expr"]))
        assert names, rule["alert"]
        assert names <= EXPORTED, (rule["alert"], names - EXPORTED)
        for label in re.findall(r"\$labels\.(\w+)", json.dumps(rule.get("annotations", {}))):
            assert label in LABELS, (rule["alert"], label)
        assert rule["labels"]["severity"] in {"page", "warning", "info"}


def test_every_dashboard_query_names_only_exported_metrics() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    for expr in queries:
        names = set(NAME.findall(expr))
        assert names and names <= EXPORTED, (expr, names - EXPORTED)


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    out = subprocess.run(
        [PROMTOOL, "check", "rules", str(resource_path("alerts.yml"))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


@needs_promtool
def test_promtool_unit_tests_fire_the_alerts() -> None:
    out = subprocess.run(
        [PROMTOOL, "test", "rules", str(HERE / "metrics_alerts_test.yml")],
        capture_output=True, text=True, timeout=60, cwd=HERE,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    exprs = [q.replace("$venue", ".*").replace("$symbol", ".*") for q in dashboard_queries()]
    doc = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"wexbook:dashboard_query_{i}", "expr": e} for i, e in enumerate(exprs)
    ]}]}  # fmt: skip
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(doc))
    out = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_docs_metrics_md_is_generated_from_the_table() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    assert text == metrics_docs.render(), "run python -m feeds.metrics.docs"
    for m in METRICS:
        assert f"`{m.name}`" in text


def test_metric_names_follow_the_conventions() -> None:
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for m in METRICS:
        assert re.fullmatch(r"wexbook_[a-z][a-z0-9_]*", m.name), m.name
        assert m.name.endswith("_total") == (m.kind == "counter"), m.name
        if m.unit:
            assert m.name.removesuffix("_total").endswith("_" + m.unit), m.name
        assert not {"id", "update_id", "order_id", "key"} & set(m.labels), m.name
        assert m.help.endswith(".") and m.source, m.name


def test_rules_and_dashboard_ship_with_the_package() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"feeds\.metrics" = \[[^\]]*"alerts\.yml"[^\]]*"dashboard\.json"', text)
    assert "prometheus-client" in text.split("[project.optional-dependencies]")[0]


def test_the_dashboard_is_laid_out_on_grafanas_grid() -> None:
    doc = json.loads(resource_path("dashboard.json").read_text())
    assert doc["uid"] and doc["title"] and doc["schemaVersion"] >= 30
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert variables == {"datasource", "venue", "symbol"}
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, p["title"]
        assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]
