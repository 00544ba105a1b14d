"""layercfg side by side with Microsoft's JSON language server given layercfg's JSON Schema.

    python benchmarks/bench_peer.py [--runs N] [--edits N] [--positions N] [--outlines N]
                                    [--skip-huge]

A full run with the defaults takes about 11 minutes on a 2-core machine, most of it the peer
on the huge document (about 5 s per request there).

The peer is ``vscode-json-language-server`` from the npm package
``vscode-langservers-extracted`` (major version 4). When it is missing, it is installed with
``npm install --prefix <cache>/layercfg-bench/peer vscode-langservers-extracted@4`` (the cache
is ``$LAYERCFG_BENCH_CACHE``, default the temp folder); Node and npm must be on the PATH. The
peer gets the schema that ``layercfg schema -o FILE`` writes, through
``workspace/didChangeConfiguration`` ``json.schemas`` (``fileMatch: ["*.layercfg.json"]``, the
schema as a ``file://`` URL), and the result limits VS Code gives it by default (5,000 document
symbols and 5,000 folding ranges, sent as 5,001 so that a client can tell the limit was hit).

First, one pull session per server opens a set of small documents, each with one deliberate
mistake, and the script prints how many diagnostics each server reported for each of them:
the rules both servers check through the schema, and the mistakes only layercfg can find
(layer references, duplicate layer names, ...). Then every measured session first opens a
document with three deliberate schema mistakes and fails the run if the server reports no
diagnostic for it: that proves the peer really validates against the schema.

layercfg runs with ``initializationOptions: {"deepCheck": "off"}``: its fast path is what is
compared. The JSON-RPC client, the documents' generator, the edit and position choice, the
memory reading (VmHWM of the server's process tree, from /proc) and the reading of the CPU
that other processes used (from /proc/stat) come from ``bench_server.py``.

Documents: a single Dense layer, ResNet50 and NASNetLarge (``weights=None``, generated with
Keras in a child process and cached), and a synthetic ~10 MB Functional model of 5,000 layers
(an InputLayer and a chain of Dense layers linked through ``inbound_nodes``/``keras_history``,
generated without Keras). In each run every document gets four sessions, one at a time:
layercfg and the peer, pull and push diagnostics, interleaved, the order reversed every other
run. A pull session opens the measured document right after ``initialized`` (spawn -> first
diagnostics, start-up included), then the three-mistake document, then closes the measured
document and opens it again for the didOpen timing.

What edit -> diagnostics measures, the same way for both servers: one ranged didChange (a
number in the document, changed and changed back, ``bench_server.EDIT_PAUSE_SECONDS`` (200 ms)
after the last diagnostics: each is a lone edit, not one of a typing burst), timed by this
script's client from just before it writes the didChange to the receipt of that version's
diagnostics:

- pull (what VS Code sees: its language client announces ``textDocument.diagnostic``, and
  both servers then only pull): the ``textDocument/diagnostic`` request is written right after
  the didChange, and the time ends at its answer. Neither server delays a pull: the peer
  validates when asked (``registerDiagnosticsPullSupport``, its push delay is not used) and
  layercfg's debounce applies to pushing only. The figure is a round trip over stdio of two
  messages and the check.
- push (a client that does not announce pull diagnostics): the time ends at the
  publishDiagnostics of that version (the peer does not say which version; its first one after
  the change is taken). It includes each server's own delay before it validates, which the
  user waits for too: the peer's 500 ms (``validationDelayMs``), after every edit; layercfg
  checks and publishes an edit that follows a quiet moment at once, and holds back only the
  edits of a burst (``DEBOUNCE_SECONDS``, 150 ms, after the last of them), which this
  benchmark's edits are not. A push session then types ``BURSTS`` bursts of ``BURST_EDITS``
  edits 30 ms apart, timed from the last edit of each to its diagnostics: layercfg's
  150 ms after it against the peer's 500 ms.

The client's own cost (a Python asyncio client, about 0.1 ms per message) is in both figures.
The summary at the end gives, per document, how many times faster layercfg answered
(peer / layercfg, p50) on edit -> diagnostics, pull and push, against issue 16's target
(10 times, at lower peak memory). After each document's four sessions, the same pull edits go
to ``pygls_floor.py``, a pygls server that stores the document and checks nothing: its time is
what the message layer alone costs a server built on pygls, and peer / that time bounds the
ratio any such server can reach (on the one-layer document it is below 10).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
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
HUGE_OUTLINES = 2
# VS Code's defaults for the JSON server (json.maxItemsComputed, editor.foldingMaximumRegions).
# VS Code sends one more than each, so that its client can tell from the answer that the
# outline was cut and say so in the status bar: the server's answer carries no mark.
PEER_SYMBOL_LIMIT = 5000
PEER_FOLDING_LIMIT = 5000
LIMITED = "limited"  # what layercfg's root symbol says when the outline was cut

_GENERATE_RESNET = """
import json, sys, keras
model = keras.applications.ResNet50(weights=None)
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    handle.write(json.dumps(keras.saving.serialize_keras_object(model), indent=2))
"""


# -- the clients ----------------------------------------------------------------------------


class OutlineClient(bs.Client):
    """bench_server's client, also announcing hierarchical symbols and folding ranges."""

    def capabilities(self) -> dict[str, Any]:
        capabilities = super().capabilities()
        capabilities["textDocument"].update(
            {
                "documentSymbol": {"hierarchicalDocumentSymbolSupport": True},
                "foldingRange": {"lineFoldingOnly": True},
            }
        )
        return capabilities


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
        print(f"installing the peer: npm install --prefix {folder} {PEER_PACKAGE}", file=sys.stderr)
        subprocess.run(
            [npm, "install", "--prefix", str(folder), PEER_PACKAGE], check=True, stdout=sys.stderr
        )
    return [str(binary), "--stdio"]


def peer_version() -> str:
    manifest = (
        cache_root() / "peer" / "node_modules" / "vscode-langservers-extracted" / "package.json"
    )
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def write_schema(folder: Path) -> Path:
    path = folder / "layercfg.schema.json"
    subprocess.run(
        [sys.executable, "-m", "layercfg", "schema", "-o", str(path)],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return path


class PeerClient(OutlineClient):
    """The same client, starting the peer and giving it the schema."""

    def __init__(
        self, pull: bool, workspace: Path, log_path: Path, command: list[str], schema: Path
    ):
        super().__init__(pull, workspace, log_path)
        self.command = command
        self.schema = schema

    async def start(self) -> float:
        self._stderr = self.log_path.open("ab")
        start = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            cwd=self.workspace,
            limit=256 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read())
        _, received = await self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": self.workspace.as_uri(),
                "capabilities": self.capabilities(),
                "clientInfo": {"name": "bench_peer"},
                "initializationOptions": {"provideFormatter": False},
            },
            timeout=60,
        )
        await self.notify("initialized", {})
        await self.notify(
            "workspace/didChangeConfiguration",
            {
                "settings": {
                    "json": {
                        "validate": {"enable": True},
                        "schemas": [
                            {
                                "fileMatch": ["*.layercfg.json"],
                                "url": self.schema.resolve().as_uri(),
                            }
                        ],
                        "resultLimit": PEER_SYMBOL_LIMIT + 1,
                        "jsonFoldingLimit": PEER_FOLDING_LIMIT + 1,
                    },
                    "http": {"proxyStrictSSL": False},
                }
            },
        )
        return (received - start) * 1000


class FloorClient(bs.Client):
    """The same client, starting pygls_floor.py: a pygls server that checks nothing."""

    def command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve().parent / "pygls_floor.py")]


def make_client(server: str, pull: bool, ctx: dict[str, Any]) -> bs.Client:
    if server == "layercfg":
        return OutlineClient(pull, ctx["workspace"], ctx["log"])
    return PeerClient(pull, ctx["workspace"], ctx["log"], ctx["peer"], ctx["schema"])


def language_id(server: str) -> str:
    return "layercfg-json" if server == "layercfg" else "json"


# -- documents ------------------------------------------------------------------------------


def resnet(folder: Path) -> Path:
    path = folder / "resnet50.layercfg.json"
    if not path.is_file():
        print(f"generating {path.name} with Keras...", file=sys.stderr)
        part = path.with_suffix(".partial")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, "-c", _GENERATE_RESNET, str(part)], check=True, env=env)
        part.replace(path)
    return path


def chain(
    dense: dict[str, Any], functional: dict[str, Any], count: int, name: str
) -> dict[str, Any]:
    """A Functional model of ``count`` layers: an InputLayer and a chain of Dense layers,
    made from a serialized Dense layer and a serialized Functional model (for its envelope
    and its InputLayer)."""
    model = copy.deepcopy(functional)
    config = model["config"]
    width = 64
    input_layer = copy.deepcopy(config["layers"][0])  # the InputLayer
    input_layer["config"]["batch_shape"] = [None, width]
    layers = [input_layer]
    previous = input_layer["name"]
    for index in range(1, count):
        layer = copy.deepcopy(dense)
        layer_name = f"dense_{index}"
        layer["config"]["name"] = layer_name
        layer["config"]["units"] = width
        layer["build_config"] = {"input_shape": [None, width]}
        layer["name"] = layer_name
        layer["inbound_nodes"] = [
            {
                "args": [
                    {
                        "class_name": "__keras_tensor__",
                        "config": {
                            "shape": [None, width],
                            "dtype": "float32",
                            "keras_history": [previous, 0, 0],
                        },
                    }
                ],
                "kwargs": {},
            }
        ]
        layers.append(layer)
        previous = layer_name
    config["name"] = name
    config["layers"] = layers
    config["output_layers"] = [previous, 0, 0]
    return model


def synthetic(folder: Path, dense_path: Path, nasnet_path: Path) -> Path:
    """The huge document: a chain of HUGE_LAYERS layers, about 10 MB."""
    path = folder / f"huge-{HUGE_LAYERS}.layercfg.json"
    if path.is_file():
        return path
    print(f"generating {path.name}...", file=sys.stderr)
    dense = json.loads(dense_path.read_text(encoding="utf-8"))
    nasnet = json.loads(nasnet_path.read_text(encoding="utf-8"))
    model = chain(dense, nasnet, HUGE_LAYERS, "synthetic_chain")
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


# -- one mistake per document ---------------------------------------------------------------


@dataclass
class Case:
    """A small document with one deliberate mistake."""

    name: str  # the file's stem
    base: str  # the valid document it was made from
    mistake: str
    text: str
    shared: bool = True  # False: a mistake JSON Schema cannot express (layercfg only)


def _standalone(layer: dict[str, Any]) -> dict[str, Any]:
    """A layer of a Functional model as a document of its own."""
    keys = ("module", "class_name", "config", "registered_name", "build_config")
    return {key: copy.deepcopy(layer[key]) for key in keys if key in layer}


def bases(dense_path: Path, resnet_path: Path, nasnet_path: Path) -> dict[str, dict[str, Any]]:
    """Valid documents to put the mistakes in: Dense, Conv2D, Dropout and a small Functional."""
    dense = json.loads(dense_path.read_text(encoding="utf-8"))
    resnet_model = json.loads(resnet_path.read_text(encoding="utf-8"))
    conv = next(
        layer for layer in resnet_model["config"]["layers"] if layer["class_name"] == "Conv2D"
    )
    dropout = copy.deepcopy(dense)
    dropout["class_name"] = "Dropout"
    dropout["config"] = {
        "name": "dropout",
        "trainable": True,
        "dtype": copy.deepcopy(dense["config"]["dtype"]),
        "rate": 0.5,
        "seed": None,
        "noise_shape": None,
    }
    functional = chain(dense, json.loads(nasnet_path.read_text(encoding="utf-8")), 3, "small_chain")
    return {
        "dense": dense,
        "conv2d": _standalone(conv),
        "dropout": dropout,
        "functional": functional,
    }


def cases(documents: dict[str, dict[str, Any]]) -> list[Case]:
    out: list[Case] = []

    def add(
        name: str,
        base: str,
        mistake: str,
        change: Callable[[dict[str, Any]], Any],
        shared: bool = True,
    ) -> None:
        value = copy.deepcopy(documents[base])
        change(value)
        out.append(Case(name, base, mistake, json.dumps(value, indent=2), shared))

    def add_text(
        name: str, base: str, mistake: str, old: str, new: str, shared: bool = True
    ) -> None:
        text = json.dumps(documents[base], indent=2)
        if old not in text:
            raise SystemExit(f"{name}: {old!r} not in the {base} document")
        out.append(Case(name, base, mistake, text.replace(old, new, 1), shared))

    def setter(*path_and_value: Any) -> Callable[[dict[str, Any]], None]:
        *path, key, value = path_and_value

        def change(document: dict[str, Any]) -> None:
            target = document
            for part in path:
                target = target[part]
            target[key] = value

        return change

    def remover(*path: Any) -> Callable[[dict[str, Any]], None]:
        def change(document: dict[str, Any]) -> None:
            target = document
            for part in path[:-1]:
                target = target[part]
            del target[path[-1]]

        return change

    for base in documents:
        add(f"{base}-valid", base, "none (the valid document)", lambda _: None)
    add("dense-unknown-key", "dense", "unknown key: config.unitz", setter("config", "unitz", 16))
    add(
        "dense-type-boolean",
        "dense",
        'wrong type: use_bias "yes" (boolean)',
        setter("config", "use_bias", "yes"),
    )
    add(
        "dense-type-integer",
        "dense",
        'wrong type: units "16" (integer)',
        setter("config", "units", "16"),
    )
    add(
        "dense-type-string",
        "dense",
        "wrong type: config.name 5 (string)",
        setter("config", "name", 5),
    )
    add(
        "functional-type-array",
        "functional",
        'wrong type: InputLayer batch_shape "64" (array)',
        setter("config", "layers", 0, "config", "batch_shape", "64"),
    )
    add(
        "dense-enum-activation",
        "dense",
        'not in the enum: activation "relux"',
        setter("config", "activation", "relux"),
    )
    add(
        "conv2d-enum-padding",
        "conv2d",
        'not in the enum: padding "sme"',
        setter("config", "padding", "sme"),
    )
    add(
        "conv2d-enum-data-format",
        "conv2d",
        'not in the enum: data_format "channels_middle"',
        setter("config", "data_format", "channels_middle"),
    )
    add("dense-bound-units", "dense", "below the minimum: units -1", setter("config", "units", -1))
    add(
        "dropout-bound-rate",
        "dropout",
        "above the maximum: rate 1.5",
        setter("config", "rate", 1.5),
    )
    add(
        "conv2d-tuple-length",
        "conv2d",
        "tuple of the wrong length: kernel_size [3, 3, 3]",
        setter("config", "kernel_size", [3, 3, 3]),
    )
    add(
        "dense-unknown-class",
        "dense",
        'unknown layer class: class_name "Dence"',
        setter("class_name", "Dence"),
    )
    add(
        "dense-initializer-key",
        "dense",
        "nested initializer, unknown key: config.sed",
        setter("config", "kernel_initializer", "config", "sed", 1),
    )
    add(
        "dense-initializer-class",
        "dense",
        'nested initializer, unknown class: "GlorotUniformm"',
        setter("config", "kernel_initializer", "class_name", "GlorotUniformm"),
    )
    add(
        "dense-regularizer-bound",
        "dense",
        "nested regularizer: L2 with l2 -0.01",
        setter(
            "config",
            "kernel_regularizer",
            {
                "module": "keras.regularizers",
                "class_name": "L2",
                "config": {"l2": -0.01},
                "registered_name": None,
            },
        ),
    )
    add(
        "dense-null-units",
        "dense",
        "null where not allowed: units null",
        setter("config", "units", None),
    )
    add(
        "dense-null-use-bias",
        "dense",
        "null where not allowed: use_bias null",
        setter("config", "use_bias", None),
    )
    add(
        "dense-missing-units",
        "dense",
        "missing required key: config.units",
        remover("config", "units"),
    )
    add(
        "conv2d-missing-kernel-size",
        "conv2d",
        "missing required key: config.kernel_size",
        remover("config", "kernel_size"),
    )
    add(
        "dense-missing-config",
        "dense",
        "missing required key: the envelope's config",
        remover("config"),
    )
    add_text(
        "dense-trailing-comma",
        "dense",
        "JSON: trailing comma",
        '"quantization_config": null\n',
        '"quantization_config": null,\n',
    )
    add_text(
        "dense-comment", "dense", "JSON: a // comment", '"units": 16,', '"units": 16, // the width'
    )
    add_text(
        "dense-duplicate-key",
        "dense",
        "JSON: duplicate key units",
        '"units": 16,',
        '"units": 16,\n    "units": 32,',
    )
    add(
        "functional-broken-reference",
        "functional",
        "keras_history names a layer that does not exist",
        setter(
            "config",
            "layers",
            2,
            "inbound_nodes",
            0,
            "args",
            0,
            "config",
            "keras_history",
            ["dense_9", 0, 0],
        ),
        shared=False,
    )
    add(
        "functional-broken-output",
        "functional",
        "output_layers names a layer that does not exist",
        setter("config", "output_layers", ["dense_9", 0, 0]),
        shared=False,
    )

    def duplicate_name(document: dict[str, Any]) -> None:
        layer = document["config"]["layers"][2]
        layer["name"] = layer["config"]["name"] = "dense_1"
        layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["input_layer", 0, 0]
        document["config"]["output_layers"] = ["dense_1", 0, 0]

    add(
        "functional-duplicate-name",
        "functional",
        "two layers named dense_1",
        duplicate_name,
        shared=False,
    )
    add(
        "dense-module-mismatch",
        "dense",
        'module "keras.initializers" for a Dense layer',
        setter("module", "keras.initializers"),
        shared=False,
    )
    return out


def write_cases(folder: Path, found: list[Case]) -> dict[str, Path]:
    target = folder / "agreement"
    target.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in found:
        path = target / f"{case.name}.layercfg.json"
        path.write_text(case.text, encoding="utf-8")
        paths[case.name] = path
    return paths


async def agreement(
    found: list[Case], paths: dict[str, Path], ctx: dict[str, Any]
) -> dict[str, dict[str, list[Any]]]:
    """Each case opened in turn, in one pull session per server: its diagnostics."""
    results: dict[str, dict[str, list[Any]]] = {server: {} for server in SERVERS}
    for server in SERVERS:
        client = make_client(server, True, ctx)
        try:
            await client.start()
            if server == "layercfg":
                await client.wait_ready(timeout=300)
            for case in found:
                uri = paths[case.name].resolve().as_uri()
                items, _, _ = await diagnostics(
                    client,
                    uri,
                    "textDocument/didOpen",
                    {
                        "textDocument": {
                            "uri": uri,
                            "languageId": language_id(server),
                            "version": 1,
                            "text": case.text,
                        }
                    },
                    1,
                )
                results[server][case.name] = items
                await client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        finally:
            await client.stop()
    return results


# -- sessions -------------------------------------------------------------------------------


Samples = dict[str, list[float]]


def edit_params(bench: bs.Bench, version: int, column: int, width: int, text: str) -> Any:
    """The didChange of ``version`` that puts ``text`` over ``width`` characters at ``column``
    of the benchmark's edit line."""
    line = bench.edit_line
    return {
        "textDocument": {"uri": bench.uri, "version": version},
        "contentChanges": [
            {
                "range": {
                    "start": {"line": line, "character": column},
                    "end": {"line": line, "character": column + width},
                },
                "text": text,
            }
        ],
    }


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


async def diagnostics(
    client: bs.Client, uri: str, method: str, params: Any, version: int
) -> tuple[list[Any], float, float]:
    """Send ``method`` and wait for the diagnostics of ``version``:
    (items, send time, receipt time)."""
    if client.pull:
        sent = await client.notify(method, params)
        report, received, _ = await client.timed_request(
            "textDocument/diagnostic", {"textDocument": {"uri": uri}}, timeout=300
        )
        return report.get("items", []), sent, received
    since = len(client.notes)
    sent = await client.notify(method, params)
    message, received = await client.wait_note(published(uri, version), since, timeout=300)
    return message["params"]["diagnostics"], sent, received


def ready_at(client: bs.Client) -> float | None:
    """When layercfg's status said the catalog was ready (None: not yet)."""
    for message, received in client.notes:
        if (
            message["method"] == bs.STATUS
            and (message.get("params") or {}).get("catalog") == "ready"
        ):
            return received
    return None


def well_formed(items: Any) -> bool:
    """Whether an answer is a list of objects (symbols or folding ranges), as LSP says."""
    return items is None or (
        isinstance(items, list) and all(isinstance(item, dict) for item in items)
    )


def count_symbols(symbols: Any) -> int:
    if not well_formed(symbols):
        return 0
    return sum(1 + count_symbols(s.get("children")) for s in symbols or [])


def limit_marked(symbols: Any) -> bool:
    if not well_formed(symbols):
        return False
    return any(
        LIMITED in str(s.get("detail") or "") or limit_marked(s.get("children"))
        for s in symbols or []
    )


def limit_messages(notes: list[tuple[dict[str, Any], float]], topic: str) -> list[str]:
    """The messages (layercfg's status aside) that speak of a limit on ``topic``."""
    found = []
    for message, _ in notes:
        if message.get("method") == bs.STATUS:
            continue
        text = json.dumps(message.get("params"))
        if re.search(r"limit", text, re.I) and re.search(topic, text, re.I):
            params = message.get("params") or {}
            words = params.get("message", text) if isinstance(params, dict) else text
            found.append(f"{message['method']}: {' '.join(str(words).split())[:90]}")
    # What the user sees first: a shown message before a logged one.
    return sorted(found, key=lambda line: not line.startswith("window/showMessage"))


SYMBOL_TOPIC = r"outline|symbol"
FOLDING_TOPIC = r"fold"


async def outlines(
    client: bs.Client, bench: bs.Bench, key: str, rounds: int, samples: Samples, ctx: dict[str, Any]
) -> None:
    """documentSymbol then foldingRange, ``rounds`` times; timings and what came back."""
    document = {"textDocument": {"uri": bench.uri}}
    since = len(client.notes)
    for _ in range(rounds):
        symbols, received, sent = await client.timed_request(
            "textDocument/documentSymbol", document, timeout=300
        )
        samples[f"{key}:symbols"].append((received - sent) * 1000)
        folds, received, sent = await client.timed_request(
            "textDocument/foldingRange", document, timeout=300
        )
        samples[f"{key}:folding"].append((received - sent) * 1000)
    notes = client.notes[since:]
    ctx["outline"][key] = {
        "top": len(symbols or []),
        "symbols": count_symbols(symbols),
        "marked": limit_marked(symbols),
        "folding": len(folds or []),
        "well formed": well_formed(symbols) and well_formed(folds),
        "symbol note": bool(limit_messages(notes, SYMBOL_TOPIC)),
        "folding note": bool(limit_messages(notes, FOLDING_TOPIC)),
    }


async def session(
    server: str, bench: bs.Bench, pull: bool, check: Path, ctx: dict[str, Any], samples: Samples
) -> None:
    mode = "pull" if pull else "push"
    language = language_id(server)
    client = make_client(server, pull, ctx)
    key = f"{server}:{bench.label}"
    # The reading of other processes' CPU starts before the spawn; the server's own ticks
    # are subtracted once its pid is known (/proc counts them from its start).
    memory = bs.Memory(0)
    load = bs.OtherLoad(memory)
    open_params = {
        "textDocument": {"uri": bench.uri, "languageId": language, "version": 1, "text": bench.text}
    }
    try:
        spawned = time.perf_counter()
        samples[f"{key}:spawn"].append(await client.start())
        memory.root = client.pid
        if pull:
            # Start-up as a whole: the measured document first, diagnostics pulled at once.
            _, _, received = await diagnostics(
                client, bench.uri, "textDocument/didOpen", open_params, 1
            )
            samples[f"{key}:first"].append((received - spawned) * 1000)
        if server == "layercfg":
            await client.wait_ready(timeout=300)
            if pull:
                ready = ready_at(client)
                ctx["ready-first"].append(ready is not None and ready <= received)
        memory.checkpoint()

        # The document with known mistakes: it proves the schema is in use.
        check_uri = check.resolve().as_uri()
        items, _, _ = await diagnostics(
            client,
            check_uri,
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": check_uri,
                    "languageId": language,
                    "version": 1,
                    "text": check.read_text(encoding="utf-8"),
                }
            },
            1,
        )
        if not items:
            raise bs.ServerError(f"{server} reported no diagnostic on {check.name}")
        samples[f"{server}:check-count"].append(len(items))
        ctx["check-messages"][server] = sorted({str(i.get("message"))[:90] for i in items})
        await client.notify("textDocument/didClose", {"textDocument": {"uri": check_uri}})

        version = 1
        if pull:  # opened already: close it, so that this open is one of a warm server
            await client.notify("textDocument/didClose", {"textDocument": {"uri": bench.uri}})
        _, sent, received = await diagnostics(
            client, bench.uri, "textDocument/didOpen", open_params, version
        )
        samples[f"{key}:open-{mode}"].append((received - sent) * 1000)

        current, other = str(bench.edit_value), str(bench.edit_value + 1)
        if len(other) != len(current):
            other = str(bench.edit_value - 1)
        edits = HUGE_EDITS if bench.label == "huge" else ctx["args"].edits
        for _ in range(min(edits, ctx["args"].edits)):
            await asyncio.sleep(bs.EDIT_PAUSE_SECONDS)
            version += 1
            change = edit_params(bench, version, bench.edit_column, len(current), other)
            current, other = other, current
            _, sent, received = await diagnostics(
                client, bench.uri, "textDocument/didChange", change, version
            )
            samples[f"{key}:edit-{mode}"].append((received - sent) * 1000)

        if not pull:  # typing: a burst of edits, timed from its last one
            at, width = bench.edit_column, len(current)
            for _ in range(1 if bench.label == "huge" else BURSTS):
                await asyncio.sleep(bs.EDIT_PAUSE_SECONDS)
                for index in range(BURST_EDITS):
                    if index:
                        await asyncio.sleep(BURST_GAP_SECONDS)
                    version += 1
                    change = edit_params(bench, version, at, width, other)
                    current, other = other, current
                    since = len(client.notes)
                    sent = await client.notify("textDocument/didChange", change)
                _, received = await client.wait_note(
                    published(bench.uri, version), since, timeout=300
                )
                samples[f"{key}:burst-push"].append((received - sent) * 1000)

        for _, line, column in bench.positions:
            where = {
                "textDocument": {"uri": bench.uri},
                "position": {"line": line, "character": column},
            }
            _, received, sent = await client.timed_request(
                "textDocument/completion", {**where, "context": {"triggerKind": 1}}, timeout=300
            )
            samples[f"{key}:completion"].append((received - sent) * 1000)
            _, received, sent = await client.timed_request("textDocument/hover", where, timeout=300)
            samples[f"{key}:hover"].append((received - sent) * 1000)

        rounds = ctx["args"].outlines
        await outlines(
            client,
            bench,
            key,
            min(rounds, HUGE_OUTLINES) if bench.label == "huge" else rounds,
            samples,
            ctx,
        )
        samples[f"{key}:memory"].append(memory.checkpoint())
        ctx["load"][f"{key}:{mode}"].append(load.cores())
    finally:
        await client.stop()


async def floor_session(bench: bs.Bench, ctx: dict[str, Any], samples: Samples) -> None:
    """The pull session's edits, against the pygls server that checks nothing."""
    client = FloorClient(True, ctx["workspace"], ctx["log"])
    open_params = {
        "textDocument": {"uri": bench.uri, "languageId": "json", "version": 1, "text": bench.text}
    }
    try:
        samples[f"floor:{bench.label}:spawn"].append(await client.start())
        await diagnostics(client, bench.uri, "textDocument/didOpen", open_params, 1)
        current, other = str(bench.edit_value), str(bench.edit_value + 1)
        if len(other) != len(current):
            other = str(bench.edit_value - 1)
        edits = HUGE_EDITS if bench.label == "huge" else ctx["args"].edits
        for version in range(2, min(edits, ctx["args"].edits) + 2):
            await asyncio.sleep(bs.EDIT_PAUSE_SECONDS)
            change = edit_params(bench, version, bench.edit_column, len(current), other)
            current, other = other, current
            _, sent, received = await diagnostics(
                client, bench.uri, "textDocument/didChange", change, version
            )
            samples[f"floor:{bench.label}:edit-pull"].append((received - sent) * 1000)
    finally:
        await client.stop()


# -- report ---------------------------------------------------------------------------------


def figure(values: list[float], stat: str) -> float:
    if stat == "median":
        return statistics.median(values)
    return bs.percentile(values, 0.95 if stat == "p95" else 0.5)


def print_rows(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


# (title, sample name, statistic, target ratio on nasnet and huge or None)
MEASURES = [
    ("spawn -> initialize", "spawn", "median", 1.0),
    ("spawn -> first diagnostics, pull", "first", "median", 1.0),
    ("didOpen -> diagnostics, pull", "open-pull", "median", 1.0),
    ("didOpen -> diagnostics, push", "open-push", "median", 1.0),
    ("edit -> diagnostics, pull p50", "edit-pull", "p50", 1 / 3),
    ("edit -> diagnostics, pull p95", "edit-pull", "p95", 1 / 3),
    ("edit -> diagnostics, push p50", "edit-push", "p50", 1 / 3),
    ("edit -> diagnostics, push p95", "edit-push", "p95", 1 / 3),
    ("typing burst: last edit -> diagnostics, push", "burst-push", "median", None),
    ("completion p50", "completion", "p50", 1.0),
    ("completion p95", "completion", "p95", 1.0),
    ("hover p50", "hover", "p50", 1.0),
    ("hover p95", "hover", "p95", 1.0),
    ("documentSymbol p50", "symbols", "p50", None),
    ("documentSymbol p95", "symbols", "p95", None),
    ("foldingRange p50", "folding", "p50", None),
    ("foldingRange p95", "folding", "p95", None),
    ("peak memory, tree VmHWM (MB)", "memory", "median", 1.0),
]


def report(benches: list[bs.Bench], samples: Samples, args: argparse.Namespace) -> list[str]:
    table = [["document", "measure", "layercfg", "peer", "ratio", "target"]]
    misses: list[str] = []
    for bench in benches:
        for title, name, stat, limit in MEASURES:
            cells = [bench.label, title]
            figures = []
            for server in SERVERS:
                values = samples[f"{server}:{bench.label}:{name}"]
                value = figure(values, stat)
                figures.append(value)
                cells.append(f"{value:.1f} [{min(values):.1f}-{max(values):.1f}]")
            ratio = figures[0] / figures[1] if figures[1] else float("inf")
            cells.append(f"{ratio:.2f}")
            if bench.label in LARGE and limit is not None:
                verdict = "PASS" if ratio <= limit else "MISS"
                cells.append(f"<= {limit:.2f} {verdict}")
                if verdict == "MISS":
                    misses.append(f"{bench.label}: {title}")
            else:
                cells.append("")
            table.append(cells)
    print()
    print(
        f"{args.runs} runs; per session {args.edits} edits, {len(benches[0].positions)} "
        f"completion + hover positions and {args.outlines} documentSymbol + foldingRange "
        f"requests ({min(HUGE_EDITS, args.edits)}, {min(HUGE_POSITIONS, args.positions)} and "
        f"{min(HUGE_OUTLINES, args.outlines)} on huge); times in ms as median or percentile "
        "[min-max over all samples]; ratio = layercfg / peer"
    )
    print_rows(table)
    return misses


# The typing burst of a push session: edits this far apart, timed from the last one to its
# diagnostics (the peer's first publication after it); one burst on huge.
BURSTS = 3
BURST_EDITS = 5
BURST_GAP_SECONDS = 0.03

SPEEDUP_TARGET = 10.0  # issue 16: edit -> diagnostics at least 10 times the peer's speed


def report_speedup(benches: list[bs.Bench], samples: Samples) -> None:
    """Per document: peer / layercfg on edit -> diagnostics (p50), and peak memory."""
    print()
    print(
        f"edit -> diagnostics, times faster than the peer (peer p50 / layercfg p50), target "
        f">= {SPEEDUP_TARGET:.0f}x at lower peak memory:"
    )
    rows = [
        [
            "document",
            "mode",
            "layercfg ms",
            "peer ms",
            "faster",
            "memory MB",
            "verdict",
            "bare pygls ms",
            "pygls at most",
        ]
    ]
    for bench in benches:
        ours_mb, peer_mb = (
            figure(samples[f"{server}:{bench.label}:memory"], "median") for server in SERVERS
        )
        for mode in ("pull", "push"):
            ours, theirs = (
                figure(samples[f"{server}:{bench.label}:edit-{mode}"], "p50") for server in SERVERS
            )
            faster = theirs / ours if ours else float("inf")
            ok = faster >= SPEEDUP_TARGET and ours_mb < peer_mb
            rows.append(
                [
                    bench.label,
                    mode,
                    f"{ours:.2f}",
                    f"{theirs:.2f}",
                    f"{faster:.1f}x",
                    f"{ours_mb:.0f} / {peer_mb:.0f}",
                    "PASS" if ok else "FAIL",
                    *floor_cells(samples, bench.label, mode, theirs),
                ]
            )
    print_rows(rows)
    print(
        "bare pygls: pygls_floor.py, a pygls server that stores the document and checks "
        "nothing, with the same client and edits (pull only); pygls at most = peer / bare "
        "pygls, the most any server built on pygls could be faster than the peer here"
    )
    spawns = [x for bench in benches for x in samples.get(f"floor:{bench.label}:spawn", [])]
    if spawns:
        print(
            f"bare pygls spawn -> initialize: {statistics.median(spawns):.0f} ms (median), the "
            "floor of the spawn -> initialize row for a server built on pygls"
        )


def floor_cells(samples: Samples, label: str, mode: str, peer_ms: float) -> list[str]:
    values = samples.get(f"floor:{label}:edit-pull")
    if mode != "pull" or not values:
        return ["", ""]
    floor = figure(values, "p50")
    return [f"{floor:.2f}", f"{peer_ms / floor:.1f}x" if floor else "inf"]


def report_outlines(benches: list[bs.Bench], ctx: dict[str, Any]) -> None:
    print()
    print(
        f"What documentSymbol and foldingRange returned, and whether the server said the "
        f"results were limited (in the root symbol's detail, or in a window message); the "
        f"peer was given VS Code's limits, {PEER_SYMBOL_LIMIT} + 1 symbols and "
        f"{PEER_FOLDING_LIMIT} + 1 folding ranges:"
    )
    rows = [
        [
            "document",
            "server",
            "symbols: top level / all",
            "outline said limited",
            "folding ranges",
            "folding said limited",
        ]
    ]
    for bench in benches:
        for server in SERVERS:
            seen = ctx["outline"].get(f"{server}:{bench.label}")
            if seen is None:
                continue
            said = [
                what
                for what, flag in (
                    ("root detail", seen["marked"]),
                    ("message", seen["symbol note"]),
                )
                if flag
            ]
            rows.append(
                [
                    bench.label,
                    server,
                    f"{seen['top']} / {seen['symbols']}",
                    " + ".join(said) or "no",
                    str(seen["folding"]) + ("" if seen["well formed"] else " (MALFORMED answer)"),
                    "message" if seen["folding note"] else "no",
                ]
            )
    print_rows(rows)


def report_load(benches: list[bs.Bench], ctx: dict[str, Any]) -> None:
    print()
    print("CPU used by other processes while each session ran (cores, in session order):")
    for bench in benches:
        parts = []
        for server in SERVERS:
            for mode in ("pull", "push"):
                values = ctx["load"].get(f"{server}:{bench.label}:{mode}", [])
                parts.append(f"{server} {mode} " + " ".join(f"{x:.2f}" for x in values))
        print(f"  {bench.label}: " + "; ".join(parts))
    firsts = ctx["ready-first"]
    print(
        f"layercfg's catalog was ready before its first diagnostics in {sum(firsts)} of "
        f"{len(firsts)} pull sessions"
    )


def _codes(items: list[Any]) -> str:
    codes = sorted({str(i.get("code")) for i in items if i.get("code") is not None})
    return f"{len(items)} ({', '.join(codes)})" if codes else str(len(items))


def _message(item: dict[str, Any]) -> str:
    text = " ".join(str(item.get("message", "")).split())
    text = text if len(text) <= 110 else text[:107] + "..."
    severity = {1: "error", 2: "warning", 3: "info", 4: "hint"}.get(item.get("severity"), "?")
    code = f"{item['code']} " if item.get("code") is not None else ""
    return f"[{severity}] {code}{text}"


def _lines(items: list[Any]) -> str:
    """The 1-based lines the diagnostics start on."""
    lines = sorted({int(i["range"]["start"]["line"]) + 1 for i in items if "range" in i})
    return ",".join(map(str, lines)) or "-"


def report_agreement(found: list[Case], results: dict[str, dict[str, list[Any]]]) -> list[str]:
    """Tables of diagnostics counts; the shared rules on which the counts differ."""
    disagreements = []
    for shared in (True, False):
        print()
        if shared:
            print(
                "Diagnostics per document with one mistake, on rules both servers check "
                "(layercfg's count with its codes):"
            )
            rows = [["document", "mistake", "layercfg", "peer", "agree", "lines: layercfg / peer"]]
        else:
            print(
                "Mistakes only layercfg can find (JSON Schema cannot express them; not "
                "counted as disagreements):"
            )
            rows = [
                [
                    "document",
                    "mistake",
                    "layercfg",
                    "peer",
                    "found by layercfg",
                    "lines: layercfg / peer",
                ]
            ]
        for case in (c for c in found if c.shared == shared):
            ours, theirs = results["layercfg"][case.name], results["peer"][case.name]
            if shared:
                agree = len(ours) == len(theirs)
                verdict = "yes" if agree else "NO"
                if not agree:
                    disagreements.append(case.name)
            else:
                verdict = "yes" if ours else "NO"
            rows.append(
                [
                    case.name,
                    case.mistake,
                    _codes(ours),
                    str(len(theirs)),
                    verdict,
                    f"{_lines(ours)} / {_lines(theirs)}",
                ]
            )
        print_rows(rows)
    print()
    print("Messages:")
    for case in found:
        print(f"  {case.name}")
        for server in SERVERS:
            items = results[server][case.name] or [{"message": "(none)"}]
            for item in items:
                label = f"{server}:".ljust(10)
                text = _message(item) if item.get("message") != "(none)" else "(none)"
                print(f"    {label}{text}")
    return disagreements


def measured_commit() -> str:
    """The commit of the server code, and whether the working tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "server", "layercfg", "schema_builder"],
            cwd=root,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if dirty:
        return f"{head} with uncommitted changes in {len(dirty.splitlines())} server files"
    return head


async def main_async(args: argparse.Namespace) -> int:
    small_path, nasnet_path = bs.documents()
    folder = small_path.parent
    resnet_path = resnet(folder)
    paths = [("dense", small_path), ("resnet50", resnet_path), ("nasnet", nasnet_path)]
    if not args.skip_huge:
        paths.append(("huge", synthetic(folder, small_path, nasnet_path)))
    check = mistakes(folder, small_path)
    found = cases(bases(small_path, resnet_path, nasnet_path))
    case_paths = write_cases(folder, found)
    benches = [
        bs.prepare(
            label, path, min(HUGE_POSITIONS, args.positions) if label == "huge" else args.positions
        )
        for label, path in paths
    ]
    for bench in benches:
        print(
            f"{bench.label}: {bench.path.name}, {bench.megabytes:.2f} MB, "
            f"{bench.text.count(chr(10)) + 1} lines",
            file=sys.stderr,
        )

    workspace = Path(tempfile.mkdtemp(prefix="layercfg-bench-peer-"))
    ctx: dict[str, Any] = {
        "args": args,
        "workspace": workspace,
        "peer": peer_command(),
        "schema": write_schema(workspace),
        "check-messages": {},
        "log": Path(tempfile.gettempdir()) / "layercfg-bench-peer.log",
        "outline": {},
        "load": defaultdict(list),
        "ready-first": [],
    }
    ctx["log"].write_bytes(b"")
    print(f"server code: {measured_commit()}; peer: vscode-langservers-extracted {peer_version()}")
    samples: Samples = defaultdict(list)
    try:
        await bs.warm_up(workspace, ctx["log"])
        results = await agreement(found, case_paths, ctx)
        print(f"agreement: {len(found)} documents checked", file=sys.stderr)
        plan = [(server, pull) for pull in (True, False) for server in SERVERS]
        for run in range(args.runs):
            for bench in benches:
                order = plan if run % 2 == 0 else plan[::-1]
                for server, pull in order:
                    await session(server, bench, pull, check, ctx, samples)
                await floor_session(bench, ctx, samples)
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    except bs.ServerError as exc:
        print(f"error: {exc} (servers' stderr in {ctx['log']})", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    misses = report(benches, samples, args)
    report_speedup(benches, samples)
    report_outlines(benches, ctx)
    report_load(benches, ctx)
    print()
    for server in SERVERS:
        counts = sorted(set(int(x) for x in samples[f"{server}:check-count"]))
        print(
            f"{server}: diagnostics on {check.name} (3 mistakes: unknown key, wrong type, "
            f"bad enum) in every session: {counts}"
        )
    disagreements = report_agreement(found, results)
    print()
    print(
        "targets on "
        + " and ".join(LARGE)
        + ": "
        + ("all PASS" if not misses else f"{len(misses)} MISS: " + "; ".join(misses))
    )
    print(
        "diagnostics counts: "
        + (
            "the same on every shared rule"
            if not disagreements
            else f"{len(disagreements)} disagreements: " + ", ".join(disagreements)
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs (2)")
    parser.add_argument(
        "--edits", type=int, default=8, help=f"edits per session (8; at most {HUGE_EDITS} on huge)"
    )
    parser.add_argument(
        "--positions",
        type=int,
        default=12,
        help=f"completion/hover positions per session (12; at most {HUGE_POSITIONS} on huge)",
    )
    parser.add_argument(
        "--outlines",
        type=int,
        default=5,
        help="documentSymbol + foldingRange requests per session "
        f"(5; at most {HUGE_OUTLINES} on huge)",
    )
    parser.add_argument(
        "--skip-huge", action="store_true", help="leave out the synthetic 10 MB document"
    )
    args = parser.parse_args()
    if args.positions < 6:
        parser.error("--positions must be at least 6")
    if args.outlines < 1:
        parser.error("--outlines must be at least 1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
