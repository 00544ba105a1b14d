"""Hostile documents: the fast checks stay linear in document size, and the server does not
spend CPU on versions that are no longer current.

    python benchmarks/bench_hostile.py [--shapes NAME,...] [--unknown-keys N] [--classes N]
        [--depth N] [--string-mb MB] [--key-mb MB] [--duplicate-layers N]
        [--duplicate-keys N] [--edit-keys N] [--runs N] [--no-server] [--no-edits]

For each shape, at size N and at N/4: the document's size, the in-process time of parsing it
(``Document.parse`` and its syntax findings) and of ``engine.check`` (best of ``--runs``), and
the time from a ``didChange`` that sets the whole text to its ``publishDiagnostics`` through a
real server subprocess (``python -m layercfg lsp``, push diagnostics, the debounce taken off).
The ratio is the time at N over the time at N/4: about 4 is linear, about 16 quadratic.

Then "six quick edits": the document with ``--edit-keys`` unknown keys is opened, and six
one-character edits are sent within 100 ms; the server's CPU time (utime + stime from
/proc/<pid>/stat, every thread) from the first edit until it is idle again, and the wall time
to the last version's diagnostics. Push (the debounce merges the edits) and pull (each edit is
followed by a ``textDocument/diagnostic`` request, and the request of the version it replaces
is cancelled, as VS Code does).

The catalog must be cached (``$LAYERCFG_CACHE_DIR``, built on first use otherwise). The server
driver is ``bench_server.py``'s client.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_server import (  # noqa: E402
    LANGUAGE_ID,
    Client,
    ServerError,
    _process_ticks,
    debounce_ms,
    published,
)

URI_DIR = Path(tempfile.gettempdir()) / "layercfg-hostile"
DENSE_HEAD = '{\n"module": "keras.layers",\n"class_name": "Dense",\n"config": {\n"units": 4'
DENSE_TAIL = '\n},\n"registered_name": null\n}\n'
NEAR_MISSES = (
    "Dens",
    "Conv2",
    "Dnse",
    "Conv2d",
    "LSTN",
    "Dropot",
    "BatchNormalisation",
    "Flaten",
    "MaxPool2",
    "Embeding",
)


# -- the shapes -------------------------------------------------------------------------------


def unknown_keys(n: int) -> str:
    """One Dense config with ``n`` unknown keys, each close to a real one ("unitz_17")."""
    keys = "".join(f',\n"unitz_{i}": {i}' for i in range(n))
    return DENSE_HEAD + keys + DENSE_TAIL


def _layer(class_name: str, name: str) -> str:
    return (
        f'{{"module": "keras.layers", "class_name": "{class_name}", '
        f'"config": {{"name": "{name}", "units": 4}}, "registered_name": null}}'
    )


def _sequential(layers: list[str]) -> str:
    return (
        '{\n"module": "keras", "class_name": "Sequential", "config": {"name": "s", '
        '"layers": [\n' + ",\n".join(layers) + '\n]}, "registered_name": null}\n'
    )


def near_miss_classes(n: int) -> str:
    """A Sequential whose ``n`` layers name classes that do not exist, each a near miss."""
    return _sequential(
        [
            _layer(f"{NEAR_MISSES[i % len(NEAR_MISSES)]}{i // len(NEAR_MISSES)}", f"layer_{i}")
            for i in range(n)
        ]
    )


def deep_arrays(n: int) -> str:
    return DENSE_HEAD + ',\n"bias_initializer": ' + "[" * n + "]" * n + DENSE_TAIL


def deep_objects(n: int) -> str:
    return DENSE_HEAD + ',\n"bias_initializer": ' + '{"a": ' * n + "1" + "}" * n + DENSE_TAIL


def long_value(n: int) -> str:
    """A string value of ``n`` characters where Keras expects an activation's name."""
    return DENSE_HEAD + ',\n"activation": "' + ("relu" * (n // 4 + 1))[:n] + '"' + DENSE_TAIL


def long_key(n: int) -> str:
    """An unknown key of ``n`` characters."""
    return DENSE_HEAD + ',\n"' + ("units" * (n // 5 + 1))[:n] + '": 1' + DENSE_TAIL


def duplicate_layer_names(n: int) -> str:
    """A Sequential of ``n`` Dense layers all named "dense" (LCF201 on all but the first)."""
    return _sequential([_layer("Dense", "dense") for _ in range(n)])


def duplicate_keys_same(n: int) -> str:
    """One key written ``n`` times."""
    return DENSE_HEAD + "".join(f',\n"units": {i}' for i in range(n)) + DENSE_TAIL


def duplicate_keys_distinct(n: int) -> str:
    """``n // 2`` distinct keys, each written twice."""
    half = [f',\n"key_{i}": {i}' for i in range(n // 2)]
    return DENSE_HEAD + "".join(half + half) + DENSE_TAIL


@dataclass(frozen=True)
class Shape:
    name: str
    make: Callable[[int], str]
    size_option: str
    unit: str = ""  # "MB": the size option is in MB (of characters)


SHAPES = (
    Shape("unknown-keys", unknown_keys, "unknown_keys"),
    Shape("near-miss-classes", near_miss_classes, "classes"),
    Shape("deep-arrays", deep_arrays, "depth"),
    Shape("deep-objects", deep_objects, "depth"),
    Shape("long-string-value", long_value, "string_mb", "MB"),
    Shape("long-key", long_key, "key_mb", "MB"),
    Shape("duplicate-layer-names", duplicate_layer_names, "duplicate_layers"),
    Shape("duplicate-keys-same", duplicate_keys_same, "duplicate_keys"),
    Shape("duplicate-keys-distinct", duplicate_keys_distinct, "duplicate_keys"),
)


def size_of(shape: Shape, args: argparse.Namespace) -> int:
    value = getattr(args, shape.size_option)
    return int(value * 1_000_000) if shape.unit == "MB" else int(value)


# -- in process -------------------------------------------------------------------------------


def in_process(text: str, runs: int) -> tuple[float, float, int]:
    """(parse seconds, check seconds, findings) of one document, the best of ``runs``."""
    from layercfg.server import engine
    from layercfg.server.document import Document
    from layercfg.server.services import validation
    from layercfg.server.settings import Settings

    best_parse = best_check = float("inf")
    saved = gc.get_threshold()
    for _ in range(runs):
        validation._memo.clear()  # each run looks its suggestions up again
        gc.collect()
        # As in the server (IdleCollector): no full collection inside the work timed.
        gc.set_threshold(saved[0], saved[1], 1 << 30)
        try:
            began = time.perf_counter()
            document = Document.parse("file:///hostile.layercfg.json", text, 1)
            document.problems  # noqa: B018 - the syntax findings are computed on first use
            parsed = time.perf_counter()
            checked = engine.check(document, _catalog(), Settings())
            best_parse = min(best_parse, parsed - began)
            best_check = min(best_check, time.perf_counter() - parsed)
        finally:
            gc.set_threshold(*saved)
    return best_parse, best_check, len(checked)


_CATALOG = None


def _catalog():  # type: ignore[no-untyped-def]
    global _CATALOG
    if _CATALOG is None:
        from layercfg.schema_builder.catalog import load_or_build
        from layercfg.server.catalog import Catalog

        _CATALOG = Catalog.from_json(load_or_build(()))
    return _CATALOG


# -- through the server -------------------------------------------------------------------------


class Session:
    """One server subprocess (push or pull diagnostics) and one open document."""

    def __init__(self, pull: bool, workspace: Path, log_path: Path) -> None:
        self.client = Client(pull, workspace, log_path)
        self.version = 0
        self.uri = ""

    async def start(self) -> None:
        await self.client.start()
        await self.client.wait_ready(timeout=600)

    async def stop(self) -> None:
        await self.client.stop()

    async def open(self, name: str, text: str) -> float:
        """didOpen -> first diagnostics, in seconds."""
        self.uri = (URI_DIR / f"{name}.layercfg.json").as_uri()
        self.version = 1
        since = len(self.client.notes)
        message = {
            "textDocument": {"uri": self.uri, "languageId": LANGUAGE_ID, "version": 1, "text": text}
        }
        sent = await self.client.notify("textDocument/didOpen", message)
        if self.client.pull:
            _, received, _ = await self.client.timed_request(
                "textDocument/diagnostic", {"textDocument": {"uri": self.uri}}, timeout=1800
            )
        else:
            _, received = await self.client.wait_note(published(self.uri, 1), since, 1800)
        return received - sent

    async def replace(self, text: str) -> float:
        """A didChange that sets the whole text -> its diagnostics, in seconds."""
        self.version += 1
        since = len(self.client.notes)
        sent = await self.client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [{"text": text}],
            },
        )
        _, received = await self.client.wait_note(published(self.uri, self.version), since, 1800)
        return received - sent

    async def close(self) -> None:
        await self.client.notify("textDocument/didClose", {"textDocument": {"uri": self.uri}})

    def cpu_seconds(self) -> float:
        return _process_ticks(self.client.pid) / os.sysconf("SC_CLK_TCK")

    async def idle(self, quiet: float = 0.5, timeout: float = 1800) -> None:
        """Wait until the server used no CPU for ``quiet`` seconds."""
        deadline = time.perf_counter() + timeout
        last = _process_ticks(self.client.pid)
        while time.perf_counter() < deadline:
            await asyncio.sleep(quiet)
            now = _process_ticks(self.client.pid)
            if now == last:
                return
            last = now


async def quick_edits(
    session: Session, text: str, edits: int = 6, within: float = 0.1
) -> tuple[float, float]:
    """(server CPU seconds, wall seconds to the last version's diagnostics) of ``edits``
    one-character edits sent within ``within`` seconds. A pull client cancels the request of
    the version an edit replaces, as VS Code does."""
    client = session.client
    line = text.count("\n", 0, text.index('"unitz_0": 0'))
    column = len('"unitz_0": ')
    await session.idle()
    cpu = session.cpu_seconds()
    since = len(client.notes)
    requests = []
    pending: int | None = None
    began = time.perf_counter()
    for index in range(edits):
        if pending is not None:
            await client.notify("$/cancelRequest", {"id": pending})
        session.version += 1
        await client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": session.uri, "version": session.version},
                "contentChanges": [
                    {
                        "range": {
                            "start": {"line": line, "character": column},
                            "end": {"line": line, "character": column + 1},
                        },
                        "text": str((index + 1) % 10),
                    }
                ],
            },
        )
        if client.pull:
            pending = _next_id(client)
            requests.append(
                asyncio.ensure_future(
                    client.timed_request(
                        "textDocument/diagnostic", {"textDocument": {"uri": session.uri}}, 1800
                    )
                )
            )
        await asyncio.sleep(within / edits)
    if client.pull:
        results = await asyncio.gather(*requests, return_exceptions=True)
        if not isinstance(results[-1], tuple):
            raise ServerError(f"the last pull failed: {results[-1]}")
        received = results[-1][1]
    else:
        _, received = await client.wait_note(published(session.uri, session.version), since, 1800)
    await session.idle()
    return session.cpu_seconds() - cpu, received - began


def _next_id(client: Client) -> int:
    """The id the client's next request gets (its counter is advanced and put back)."""
    ident = next(client._ids)
    client._ids = itertools.chain([ident], client._ids)  # type: ignore[assignment]
    return ident


# -- the run ----------------------------------------------------------------------------------


def _megabytes(text: str) -> str:
    return f"{len(text.encode('utf-8', 'surrogatepass')) / 1e6:.2f} MB"


def _ratio(big: float, small: float) -> str:
    return f"{big / small:.1f}" if small > 0.002 else "-"


async def run(args: argparse.Namespace) -> int:
    wanted = set(args.shapes.split(",")) if args.shapes else None
    shapes = [s for s in SHAPES if wanted is None or s.name in wanted]
    URI_DIR.mkdir(exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix="layercfg-hostile-ws-"))
    log_path = Path(tempfile.gettempdir()) / "layercfg-hostile-server.log"
    log_path.write_bytes(b"")
    debounce = (debounce_ms() or 0) / 1000
    session = None
    if not args.no_server:
        session = Session(False, workspace, log_path)
        await session.start()
        await session.open("hostile", "{}")
    header = [
        "shape",
        "N",
        "size",
        "parse s",
        "check s",
        "findings",
        "server s",
        "check ratio",
        "server ratio",
    ]
    rows = [header]
    try:
        for shape in shapes:
            n = size_of(shape, args)
            figures = []
            for size in (max(n // 4, 1), n):
                text = shape.make(size)
                parse, check, findings = in_process(text, args.runs)
                served = None
                if session is not None:
                    served = await session.replace(text) - debounce
                    await session.replace("{}")
                figures.append((size, text, parse, check, findings, served))
            (_, _, _, check_small, _, served_small), big = figures
            size, text, parse, check, findings, served = big
            shown = f"{size / 1e6:g} MB" if shape.unit == "MB" else f"{size:,}"
            rows.append(
                [
                    shape.name,
                    shown,
                    _megabytes(text),
                    f"{parse:.3f}",
                    f"{check:.3f}",
                    f"{findings:,}",
                    "-" if served is None else f"{served:.3f}",
                    _ratio(check, check_small),
                    "-" if served is None else _ratio(served, served_small or 0.0),
                ]
            )
            print("  ".join(rows[-1]), file=sys.stderr)
    except ServerError as exc:
        print(f"error: {exc} (server stderr in {log_path})", file=sys.stderr)
        return 1
    finally:
        if session is not None:
            await session.stop()
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print()
    print(
        "times in seconds; ratio: time at N / time at N/4 (4 = linear); server: didChange "
        f"(whole text) -> publishDiagnostics, less the {debounce * 1000:g} ms debounce"
    )
    for index, cells in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))

    if not args.no_server and not args.no_edits:
        text = unknown_keys(args.edit_keys)
        print()
        print(f"six quick edits on {args.edit_keys:,} unknown keys ({_megabytes(text)}):")
        for pull in (False, True):
            session = Session(pull, workspace, log_path)
            try:
                await session.start()
                opened = await session.open("edits", text)
                cpu, wall = await quick_edits(session, text)
            except ServerError as exc:
                print(f"error: {exc} (server stderr in {log_path})", file=sys.stderr)
                return 1
            finally:
                await session.stop()
            mode = "pull" if pull else "push"
            print(
                f"  {mode}: open -> diagnostics {opened:.2f} s; six edits in 100 ms: server "
                f"CPU {cpu:.2f} s, last edit's diagnostics after {wall:.2f} s"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes",
        help="comma-separated names (default: all): " + ", ".join(s.name for s in SHAPES),
    )
    parser.add_argument("--unknown-keys", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=5_000)
    parser.add_argument("--depth", type=int, default=100_000)
    parser.add_argument("--string-mb", type=float, default=10.0)
    parser.add_argument("--key-mb", type=float, default=1.0)
    parser.add_argument("--duplicate-layers", type=int, default=20_000)
    parser.add_argument("--duplicate-keys", type=int, default=20_000)
    parser.add_argument(
        "--edit-keys",
        type=int,
        default=16_000,
        help="unknown keys of the six-quick-edits document (16,000)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="in-process runs per document; the best is shown (3)"
    )
    parser.add_argument("--no-server", action="store_true", help="in process only")
    parser.add_argument("--no-edits", action="store_true", help="skip the six quick edits")
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
