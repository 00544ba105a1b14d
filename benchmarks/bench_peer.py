"""layercfg side by side with Microsoft's JSON language server given layercfg's JSON Schema.

    python benchmarks/bench_peer.py [--runs N] [--edits N] [--positions N] [--skip-huge]

A full run with the defaults takes about 10 minutes on a 2-core machine, most of it the peer
on the huge document (about 5 s per request there).

The peer is ``vscode-json-language-server`` from the npm package
``vscode-langservers-extracted`` (major version 4). When it is missing, it is installed with
``npm install --prefix <cache>/layercfg-bench/peer vscode-langservers-extracted@4`` (the cache
is ``$LAYERCFG_BENCH_CACHE``, default the temp folder); Node and npm must be on the PATH. The
peer gets the schema that ``layercfg schema -o FILE`` writes, through
``workspace/didChangeConfiguration`` ``json.schemas`` (``fileMatch: ["*.layercfg.json"]``, the
schema as a ``file://`` URL). Every session first opens a document with three deliberate
schema mistakes and fails the run if the server reports no diagnostic for it: that proves the
peer really validates against the schema, and gives the diagnostics counts of both servers.

layercfg runs with ``initializationOptions: {"deepCheck": "off"}``: its fast path is what is
compared. The JSON-RPC client, the documents' generator, the edit and position choice and the
memory reading (VmHWM of the server's process tree, from /proc) come from ``bench_server.py``.

Documents: a single Dense layer, ResNet50 and NASNetLarge (``weights=None``, generated with
Keras in a child process and cached), and a synthetic ~10 MB Functional model of 5,000 layers
(an InputLayer and a chain of Dense layers linked through ``inbound_nodes``/``keras_history``,
generated without Keras). In each run every document gets four sessions, one at a time:
layercfg and the peer, pull and push diagnostics, interleaved, the order reversed every other
run. Push timings include each server's own delay before it validates (layercfg's debounce,
the peer's 500 ms); pull timings include none.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_server as bs  # noqa: E402

PEER_PACKAGE = "vscode-langservers-extracted@4"
SERVERS = ("layercfg", "peer")
LARGE = ("nasnet", "huge")  # the documents the targets apply to
HUGE_LAYERS = 5000
# The peer takes about 5 s per request on the huge document: fewer of them there.
HUGE_EDITS = 4
HUGE_POSITIONS = 6  # at least 6: bench_server.prepare splits them in three kinds

_GENERATE_RESNET = """
import json, sys, keras
model = keras.applications.ResNet50(weights=None)
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    handle.write(json.dumps(keras.saving.serialize_keras_object(model), indent=2))
"""


# -- the peer -------------------------------------------------------------------------------


def cache_root() -> Path:
    root = Path(os.environ.get("LAYERCFG_BENCH_CACHE", tempfile.gettempdir()))
    return root / "layercfg-bench"


def peer_command() -> list[str]:
    folder = cache_root() / "peer"
    binary = folder / "node_modules" / ".bin" / "vscode-json-language-server"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise SystemExit("the peer needs Node.js and npm on the PATH")
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing the peer: npm install --prefix {folder} {PEER_PACKAGE}",
              file=sys.stderr)
        subprocess.run([npm, "install", "--prefix", str(folder), PEER_PACKAGE], check=True,
                       stdout=sys.stderr)
    return [str(binary), "--stdio"]


def peer_version() -> str:
    manifest = (cache_root() / "peer" / "node_modules" / "vscode-langservers-extracted"
                / "package.json")
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def write_schema(folder: Path) -> Path:
    path = folder / "layercfg.schema.json"
    subprocess.run([sys.executable, "-m", "layercfg", "schema", "-o", str(path)], check=True,
                   stderr=subprocess.DEVNULL)
    return path


class PeerClient(bs.Client):
    """The same client, starting the peer and giving it the schema."""

    def __init__(self, pull: bool, workspace: Path, log_path: Path, command: list[str],
                 schema: Path):
        super().__init__(pull, workspace, log_path)
        self.command = command
        self.schema = schema

    async def start(self) -> float:
        self._stderr = self.log_path.open("ab")
        start = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr, cwd=self.workspace, limit=256 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read())
        _, received = await self.request("initialize", {
            "processId": os.getpid(),
            "rootUri": self.workspace.as_uri(),
            "capabilities": self.capabilities(),
            "clientInfo": {"name": "bench_peer"},
            "initializationOptions": {"provideFormatter": False},
        }, timeout=60)
        await self.notify("initialized", {})
        await self.notify("workspace/didChangeConfiguration", {"settings": {
            "json": {"validate": {"enable": True},
                     "schemas": [{"fileMatch": ["*.layercfg.json"],
                                  "url": self.schema.resolve().as_uri()}]},
            "http": {"proxyStrictSSL": False},
        }})
        return (received - start) * 1000


# -- documents ------------------------------------------------------------------------------


def resnet(folder: Path) -> Path:
    path = folder / "resnet50.layercfg.json"
    if not path.is_file():
        print(f"generating {path.name} with Keras...", file=sys.stderr)
        part = path.with_suffix(".partial")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, "-c", _GENERATE_RESNET, str(part)], check=True,
                       env=env)
        part.replace(path)
    return path


def synthetic(folder: Path, dense_path: Path, nasnet_path: Path) -> Path:
    """A Functional model: an InputLayer and a chain of Dense layers, about 10 MB."""
    path = folder / f"huge-{HUGE_LAYERS}.layercfg.json"
    if path.is_file():
        return path
    print(f"generating {path.name}...", file=sys.stderr)
    dense = json.loads(dense_path.read_text(encoding="utf-8"))
    model = json.loads(nasnet_path.read_text(encoding="utf-8"))
    config = model["config"]
    width = 64
    input_layer = copy.deepcopy(config["layers"][0])  # the InputLayer
    input_layer["config"]["batch_shape"] = [None, width]
    layers = [input_layer]
    previous = input_layer["name"]
    for index in range(1, HUGE_LAYERS):
        layer = copy.deepcopy(dense)
        name = f"dense_{index}"
        layer["config"]["name"] = name
        layer["config"]["units"] = width
        layer["build_config"] = {"input_shape": [None, width]}
        layer["name"] = name
        layer["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": [None, width], "dtype": "float32", "keras_history": [previous, 0, 0]}}],
            "kwargs": {}}]
        layers.append(layer)
        previous = name
    config["name"] = "synthetic_chain"
    config["layers"] = layers
    config["output_layers"] = [previous, 0, 0]
    part = path.with_suffix(".partial")
    part.write_text(json.dumps(model, indent=2), encoding="utf-8")
    part.replace(path)
    return path


def mistakes(folder: Path, dense_path: Path) -> Path:
    """The Dense layer with an unknown key, a value of the wrong type and a bad enum value."""
    path = folder / "mistakes.layercfg.json"
    dense = json.loads(dense_path.read_text(encoding="utf-8"))
    dense["config"]["unitz"] = 16  # unknown key
    dense["config"]["use_bias"] = "yes"  # wrong type
    dense["config"]["activation"] = "relux"  # not one of the activations
    path.write_text(json.dumps(dense, indent=2), encoding="utf-8")
    return path


# -- sessions -------------------------------------------------------------------------------


Samples = dict[str, list[float]]


def published(uri: str, version: int | None) -> Any:
    """A publishDiagnostics for ``uri``: of ``version`` when the server says which."""
    def accept(message: dict[str, Any]) -> bool:
        if message["method"] != "textDocument/publishDiagnostics":
            return False
        params = message.get("params") or {}
        if params.get("uri") != uri:
            return False
        return version is None or params.get("version") in (None, version)

    return accept


async def diagnostics(client: bs.Client, uri: str, method: str, params: Any,
                      version: int) -> tuple[list[Any], float]:
    """Send ``method`` and wait for the diagnostics of ``version``: (items, elapsed ms)."""
    if client.pull:
        sent = await client.notify(method, params)
        report, received, _ = await client.timed_request(
            "textDocument/diagnostic", {"textDocument": {"uri": uri}}, timeout=300)
        return report.get("items", []), (received - sent) * 1000
    since = len(client.notes)
    sent = await client.notify(method, params)
    message, received = await client.wait_note(published(uri, version), since, timeout=300)
    return message["params"]["diagnostics"], (received - sent) * 1000


async def session(server: str, bench: bs.Bench, pull: bool, check: Path, ctx: dict[str, Any],
                  samples: Samples) -> None:
    mode = "pull" if pull else "push"
    language = "layercfg-json" if server == "layercfg" else "json"
    if server == "layercfg":
        client = bs.Client(pull, ctx["workspace"], ctx["log"])
    else:
        client = PeerClient(pull, ctx["workspace"], ctx["log"], ctx["peer"], ctx["schema"])
    key = f"{server}:{bench.label}"
    try:
        samples[f"{key}:spawn"].append(await client.start())
        if server == "layercfg":
            await client.wait_ready(timeout=300)
        memory = bs.Memory(client.pid)
        memory.checkpoint()

        # The document with known mistakes first: it proves the schema is in use.
        check_uri = check.resolve().as_uri()
        items, _ = await diagnostics(client, check_uri, "textDocument/didOpen", {
            "textDocument": {"uri": check_uri, "languageId": language, "version": 1,
                             "text": check.read_text(encoding="utf-8")}}, 1)
        if not items:
            raise bs.ServerError(f"{server} reported no diagnostic on {check.name}")
        samples[f"{server}:check-count"].append(len(items))
        ctx["check-messages"][server] = sorted({str(i.get("message"))[:90] for i in items})
        await client.notify("textDocument/didClose", {"textDocument": {"uri": check_uri}})

        version = 1
        _, elapsed = await diagnostics(client, bench.uri, "textDocument/didOpen", {
            "textDocument": {"uri": bench.uri, "languageId": language, "version": version,
                             "text": bench.text}}, version)
        samples[f"{key}:open-{mode}"].append(elapsed)

        current, other = str(bench.edit_value), str(bench.edit_value + 1)
        if len(other) != len(current):
            other = str(bench.edit_value - 1)
        edits = HUGE_EDITS if bench.label == "huge" else ctx["args"].edits
        for _ in range(min(edits, ctx["args"].edits)):
            await asyncio.sleep(bs.EDIT_PAUSE_SECONDS)
            version += 1
            line, column = bench.edit_line, bench.edit_column
            change = {"textDocument": {"uri": bench.uri, "version": version},
                      "contentChanges": [{
                          "range": {"start": {"line": line, "character": column},
                                    "end": {"line": line, "character": column + len(current)}},
                          "text": other}]}
            current, other = other, current
            _, elapsed = await diagnostics(client, bench.uri, "textDocument/didChange", change,
                                           version)
            samples[f"{key}:edit-{mode}"].append(elapsed)

        for _, line, column in bench.positions:
            where = {"textDocument": {"uri": bench.uri},
                     "position": {"line": line, "character": column}}
            _, received, sent = await client.timed_request(
                "textDocument/completion", {**where, "context": {"triggerKind": 1}},
                timeout=300)
            samples[f"{key}:completion"].append((received - sent) * 1000)
            _, received, sent = await client.timed_request("textDocument/hover", where,
                                                           timeout=300)
            samples[f"{key}:hover"].append((received - sent) * 1000)
        samples[f"{key}:memory"].append(memory.checkpoint())
    finally:
        await client.stop()


# -- report ---------------------------------------------------------------------------------


def figure(values: list[float], stat: str) -> float:
    if stat == "median":
        return statistics.median(values)
    return bs.percentile(values, 0.95 if stat == "p95" else 0.5)


def report(benches: list[bs.Bench], samples: Samples, args: argparse.Namespace) -> list[str]:
    header = ["document", "measure", "layercfg", "peer", "ratio", "target"]
    table = [header]
    misses: list[str] = []
    measures = [("spawn -> initialize", "spawn", "median", 1.0),
                ("didOpen -> diagnostics, pull", "open-pull", "median", 1.0),
                ("didOpen -> diagnostics, push", "open-push", "median", 1.0),
                ("edit -> diagnostics, pull p50", "edit-pull", "p50", 1 / 3),
                ("edit -> diagnostics, pull p95", "edit-pull", "p95", 1 / 3),
                ("edit -> diagnostics, push p50", "edit-push", "p50", 1 / 3),
                ("edit -> diagnostics, push p95", "edit-push", "p95", 1 / 3),
                ("completion p50", "completion", "p50", 1.0),
                ("completion p95", "completion", "p95", 1.0),
                ("hover p50", "hover", "p50", 1.0),
                ("hover p95", "hover", "p95", 1.0),
                ("peak memory, tree VmHWM (MB)", "memory", "median", 1.0)]
    for bench in benches:
        for title, name, stat, limit in measures:
            cells = [bench.label, title]
            figures = []
            for server in SERVERS:
                values = samples[f"{server}:{bench.label}:{name}"]
                value = figure(values, stat)
                figures.append(value)
                cells.append(f"{value:.1f} [{min(values):.1f}-{max(values):.1f}]")
            ratio = figures[0] / figures[1] if figures[1] else float("inf")
            cells.append(f"{ratio:.2f}")
            if bench.label in LARGE:
                verdict = "PASS" if ratio <= limit else "MISS"
                cells.append(f"<= {limit:.2f} {verdict}")
                if verdict == "MISS":
                    misses.append(f"{bench.label}: {title}")
            else:
                cells.append("")
            table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    print(f"{args.runs} runs; per session {args.edits} edits and {len(benches[0].positions)} "
          f"completion + hover positions ({min(HUGE_EDITS, args.edits)} and "
          f"{min(HUGE_POSITIONS, args.positions)} on huge); times in ms as median or "
          "percentile [min-max over all samples]; ratio = layercfg / peer")
    for index, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    return misses


async def main_async(args: argparse.Namespace) -> int:
    small_path, nasnet_path = bs.documents()
    folder = small_path.parent
    paths = [("dense", small_path), ("resnet50", resnet(folder)), ("nasnet", nasnet_path)]
    if not args.skip_huge:
        paths.append(("huge", synthetic(folder, small_path, nasnet_path)))
    check = mistakes(folder, small_path)
    benches = [bs.prepare(label, path, min(HUGE_POSITIONS, args.positions)
                          if label == "huge" else args.positions) for label, path in paths]
    for bench in benches:
        print(f"{bench.label}: {bench.path.name}, {bench.megabytes:.2f} MB, "
              f"{bench.text.count(chr(10)) + 1} lines", file=sys.stderr)

    workspace = Path(tempfile.mkdtemp(prefix="layercfg-bench-peer-"))
    ctx: dict[str, Any] = {"args": args, "workspace": workspace, "peer": peer_command(),
                           "schema": write_schema(workspace), "check-messages": {},
                           "log": Path(tempfile.gettempdir()) / "layercfg-bench-peer.log"}
    ctx["log"].write_bytes(b"")
    print(f"peer: vscode-langservers-extracted {peer_version()}", file=sys.stderr)
    samples: Samples = defaultdict(list)
    try:
        await bs.warm_up(workspace, ctx["log"])
        plan = [(server, pull) for pull in (True, False) for server in SERVERS]
        for run in range(args.runs):
            for bench in benches:
                order = plan if run % 2 == 0 else plan[::-1]
                for server, pull in order:
                    await session(server, bench, pull, check, ctx, samples)
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    except bs.ServerError as exc:
        print(f"error: {exc} (servers' stderr in {ctx['log']})", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    misses = report(benches, samples, args)
    print()
    for server in SERVERS:
        counts = sorted(set(int(x) for x in samples[f"{server}:check-count"]))
        print(f"{server}: diagnostics on {check.name} (3 mistakes: unknown key, wrong type, "
              f"bad enum): {counts}")
        for message in ctx["check-messages"].get(server, []):
            print(f"    {message}")
    print()
    print("targets on " + " and ".join(LARGE) + ": " + (
        "all PASS" if not misses else f"{len(misses)} MISS: " + "; ".join(misses)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs (2)")
    parser.add_argument("--edits", type=int, default=8,
                        help=f"edits per session (8; at most {HUGE_EDITS} on huge)")
    parser.add_argument("--positions", type=int, default=12,
                        help="completion/hover positions per session "
                             f"(12; at most {HUGE_POSITIONS} on huge)")
    parser.add_argument("--skip-huge", action="store_true",
                        help="leave out the synthetic 10 MB document")
    args = parser.parse_args()
    if args.positions < 6:
        parser.error("--positions must be at least 6")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
