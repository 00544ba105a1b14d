"""The Keras worker's line protocol: answers, errors, progress, and a clean stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("keras")


class RawWorker:
    """The worker started by hand, as the client starts it: isolated, answering on a pipe."""

    def __init__(self, env, private):
        read, write = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-m",
                "layercfg.schema_builder.worker",
                "--answer-fd",
                str(write),
                "--private",
                str(private),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**env, "TMPDIR": str(private)},
            pass_fds=(write,),
            cwd=str(private),
        )
        os.close(write)
        self.answers = os.fdopen(read, encoding="utf-8")
        self.stdin = self.process.stdin

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.answers.close()


@pytest.fixture
def worker(subprocess_env, catalog, tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    raw = RawWorker(subprocess_env, private)
    yield raw
    raw.kill()


def ask(worker, line):
    worker.stdin.write(line + "\n")
    worker.stdin.flush()
    messages = []
    while True:
        message = json.loads(worker.answers.readline())
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


def test_catalog_comes_back_whole_and_the_worker_writes_no_cache(worker, cache_dir):
    before = {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    request = {"id": 1, "method": "catalog", "params": {"rebuild": True}}
    answer = ask(worker, json.dumps(request))[-1]["result"]
    assert answer["catalog"]["classes"] and answer["cached"] is False
    assert answer["filename"].startswith("catalog-") and answer["filename"].endswith(".json")
    # The worker cannot write there: the client stores the catalog it sends.
    assert {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == before


def test_untrusted_workspace_modules_are_not_imported(worker, fixtures_on_path):
    params = {
        "modules": ["custom.broken_import"],
        "workspace": str(fixtures_on_path),
        "trusted": False,
    }
    answer = ask(worker, json.dumps({"id": 1, "method": "catalog", "params": params}))[-1]
    assert answer["result"]["key"]["modules"] == []


def test_new_errors_come_back_as_errors(worker):
    request = {"id": 7, "method": "new", "params": {"class_name": "Dense", "config": {"units": -1}}}
    answer = ask(worker, json.dumps(request))[-1]
    assert answer["id"] == 7 and "units" in answer["error"]["message"]
