"""What the serve documentation promises, checked against the real thing: the scrape
configuration and every Grafana query in it are accepted by promtool, the
Content-Security-Policy it quotes is the one the pages are sent with, and every path in
its table of routes is answered."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_serve import Env, env, get  # noqa: F401  (env: the fixture)

from smtpwatch.local.pages.layout import CSP
from smtpwatch.local.sqlite_store import SqliteStore

DOC = (Path(__file__).parents[2] / "docs" / "serve.md").read_text(encoding="utf-8")


def _block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert found is not None, language
    return found.group(1)


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    return promtool


@pytest.mark.once
def test_the_scrape_configuration_is_valid_with_and_without_basic_auth(tmp_path: Path) -> None:
    promtool = _promtool()
    plain = _block("yaml")
    # The commented basic_auth lines, switched on.
    with_auth = re.sub(r"(?m)^    # (basic_auth:|  \w+:)", r"    \1", plain)
    assert "\n    basic_auth:\n      username: prometheus\n" in with_auth
    for name, text in (("plain.yml", plain), ("auth.yml", with_auth)):
        (tmp_path / name).write_text(text)
        done = subprocess.run(
            [promtool, "check", "config", "--syntax-only", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.once
def test_every_grafana_query_is_promql(tmp_path: Path) -> None:
    promtool = _promtool()
    queries = [
        line.replace("$__range", "1h").replace("$target", "mx")
        for line in _block("promql").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(queries) >= 5
    rules = [{"record": f"doc:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "docs", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout


def test_the_quoted_policy_is_the_one_sent() -> None:
    assert " ".join(CSP.split()) in " ".join(DOC.replace("`", "").split())


def test_every_documented_path_is_answered(env: Env) -> None:  # noqa: F811
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": "mail:25", "host": "127.0.0.1", "port": 25}])
    port = env.serve()
    documented = re.findall(r"(?m)^\| `(/[^`]*)` \|", DOC)
    assert "/metrics" in documented and "/targets/<id>" in documented
    for path in documented:
        path = path.replace("<id>", "mail%3A25")
        status, _, body = get(port, path)
        assert status == 200, (path, body[:200])
