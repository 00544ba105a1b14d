"""The Keras worker's line protocol: answers, errors, progress, and a clean stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("keras")


@pytest.fixture
def worker(subprocess_env, catalog):
    process = subprocess.Popen(
        [sys.executable, "-m", "layercfg.schema_builder.worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=subprocess_env,
    )
    yield process
    process.kill()
    process.wait()


def ask(process, line):
    process.stdin.write(line + "\n")
    process.stdin.flush()
    messages = []
    while True:
        message = json.loads(process.stdout.readline())
        messages.append(message)
        if "id" in message:
            return messages


def test_ping_unknown_method_and_garbage(worker):
    assert "pid" in ask(worker, '{"id": 1, "method": "ping"}')[-1]["result"]
    error = ask(worker, '{"id": 2, "method": "fly"}')[-1]
    assert error["id"] == 2 and error["error"]["kind"] == "method"
    garbage = ask(worker, "this is not json")[-1]
    assert garbage["id"] is None and garbage["error"]["kind"] == "protocol"
    assert ask(worker, '{"id": 3, "method": "ping"}')[-1]["id"] == 3  # still alive


def test_catalog_answers_with_the_cached_path(worker, cache_dir):
    answer = ask(worker, json.dumps({"id": 1, "method": "catalog", "params": {}}))[-1]
    path = answer["result"]["path"]
    assert path.startswith(str(cache_dir))
    assert json.loads(open(path, encoding="utf-8").read())["classes"]


def test_untrusted_workspace_modules_are_not_imported(worker, fixtures_on_path):
    params = {"modules": ["custom.broken_import"], "workspace": str(fixtures_on_path),
              "trusted": False}
    answer = ask(worker, json.dumps({"id": 1, "method": "catalog", "params": params}))[-1]
    assert answer["result"]["key"]["modules"] == []


def test_new_errors_come_back_as_errors(worker):
    request = {"id": 7, "method": "new", "params": {"class_name": "Dense", "config": {"units": -1}}}
    answer = ask(worker, json.dumps(request))[-1]
    assert answer["id"] == 7 and "units" in answer["error"]["message"]
