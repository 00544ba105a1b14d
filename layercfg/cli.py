"""Command-line entry point: ``layercfg schema | new | lsp | check | upgrade`` (SPEC §4).

Exit codes: 0 success, 1 problems found, 2 usage or internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments: one line on stderr and exit code 2."""


def _modules(value: str | None) -> tuple[str, ...]:
    return tuple(m.strip() for m in (value or "").split(",") if m.strip())


def _progress(message: str, percentage: int) -> None:
    print(f"layercfg: [{percentage:3d}%] {message}", file=sys.stderr)


def _catalog(args: argparse.Namespace) -> dict:
    from layercfg.schema_builder import catalog

    # Modules named on the command line are trusted by the person who named them.
    catalog.workspace_on_path(os.getcwd())
    modules = _modules(args.modules)
    return catalog.load_or_build(
        modules, args.implementation, progress=_progress, rebuild=args.rebuild
    )


def cmd_schema(args: argparse.Namespace) -> int:
    data = _catalog(args)
    text = json.dumps(data["schema"], indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"layercfg: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for skipped in data["skipped"]:
        print(f"layercfg: note: {skipped['what']}: {skipped['reason']}", file=sys.stderr)
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from layercfg.schema_builder import generate

    overrides = generate.parse_assignments(args.assignments)
    data = _catalog(args)
    for module in _modules(args.modules):
        __import__(module)
    config = generate.new_config(data, args.class_name, overrides)
    sys.stdout.write(json.dumps(config, indent=2) + "\n")
    return EXIT_OK


def cmd_lsp(args: argparse.Namespace) -> int:
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--tcp expects HOST:PORT, got {args.tcp!r}")
        from layercfg.server.server import create_server

        server = create_server()
        server.idle_gc.install()
        server.start_tcp(host, int(port))
        return EXIT_OK
    # Over stdio, ``initialize`` is answered before the server's libraries are imported.
    from layercfg.server import handshake

    stream, answered = handshake.answer_initialize(sys.stdin.buffer, sys.stdout.buffer)
    from layercfg.server.server import create_server

    server = create_server()
    server.protocol.answered_early = answered
    server.idle_gc.install()
    server.start_io(stream)  # type: ignore[arg-type]
    return EXIT_OK


def _read_document(path: str):
    """The parsed file; bytes that are not UTF-8 survive as surrogates, so nothing is lost."""
    from layercfg.server.document import Document

    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            text = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    return Document.parse(Path(path).resolve().as_uri(), text)


def _files(paths: list[str]) -> list[str]:
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, n) for n in sorted(names)
                          if n.endswith(".layercfg.json")]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise UsageError(f"no such file or directory: {path}")
    return found


def cmd_check(args: argparse.Namespace) -> int:
    from layercfg.server import engine, report
    from layercfg.server.catalog import Catalog
    from layercfg.server.settings import Settings

    files = _files(args.paths)
    catalog = Catalog.from_json(_catalog(args))
    settings = Settings(modules=_modules(args.modules), trustWorkspace=True,
                        deepCheckTimeout=args.timeout, deepCheckMemoryMB=args.memory_mb)
    results = []
    diffs: list[str] = []
    for path in files:
        document = _read_document(path)
        if args.fix or args.diff:
            document = _fix(path, document, catalog, settings, args, diffs)
        results.append((path, document, engine.check(document, catalog, settings)))
    if args.diff:
        sys.stdout.write("".join(diffs))
        return EXIT_PROBLEMS if diffs else EXIT_OK
    if args.deep:
        import asyncio

        results = asyncio.run(_deep(results, settings, args))
    sys.stdout.write(report.render(results, args.format))
    errors = any(c.problem.severity == 1 for _, _, checked in results for c in checked)
    return EXIT_PROBLEMS if errors else EXIT_OK


def _fix(path: str, document, catalog, settings, args: argparse.Namespace, diffs: list[str]):
    """Apply the fixes that have exactly one safe choice (``--fix``), or note their diff
    (``--diff``); the document to report on."""
    from layercfg.server.document import Document
    from layercfg.server.services.code_actions import fix_all

    text, applied = fix_all(document, catalog, settings)
    if text == document.text:
        return document
    if args.diff:
        diffs.append(_unified_diff(path, document.text, text))
        return document
    _write(path, text)
    print(f"layercfg: {path}: applied {len(applied)} fix{'es' if len(applied) != 1 else ''}",
          file=sys.stderr)
    return Document.parse(document.uri, text)


def _unified_diff(path: str, old: str, new: str) -> str:
    import difflib

    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=f"a/{path}", tofile=f"b/{path}")
    return "".join(line if line.endswith(("\n", "\r")) else line + "\n" for line in lines)


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None


def cmd_upgrade(args: argparse.Namespace) -> int:
    from layercfg.server.catalog import Catalog
    from layercfg.server.services.code_actions import rewrite_whole
    from layercfg.server.services.formatting import apply_edits
    from layercfg.server.services.upgrade import upgrade

    files = _files(args.paths)
    catalog = Catalog.from_json(_catalog(args))
    failed = False
    diffs = []
    for path in files:
        document = _read_document(path)
        text = document.text
        if any(p.code == "LCF001" for p in document.problems) or not isinstance(
            document.value, dict
        ):
            print(f"layercfg: {path}: not a JSON object that parses; not upgraded",
                  file=sys.stderr)
            failed = True
            continue
        result = upgrade(document.value, catalog)
        for note in result.notes:
            print(f"layercfg: {path}: note: {note}", file=sys.stderr)
        new_text = apply_edits(text, rewrite_whole(document, result.value))
        if new_text == text:
            print(f"layercfg: {path}: already in the Keras 3 format", file=sys.stderr)
        elif args.diff:
            diffs.append(_unified_diff(path, text, new_text))
        else:
            _write(path, new_text)
            print(f"layercfg: {path}: upgraded to the Keras 3 format", file=sys.stderr)
    sys.stdout.write("".join(diffs))
    return EXIT_PROBLEMS if failed else EXIT_OK


async def _deep(results: list, settings, args: argparse.Namespace) -> list:
    """Keras's own check of every file that parses, in one worker, with the usual limits."""
    from layercfg.server.deepcheck import run_check, to_checked
    from layercfg.server.worker import WorkerClient

    worker = WorkerClient()
    out = []
    try:
        for path, document, checked in results:
            if document.syntax_ok and isinstance(document.value, dict):
                deep = await run_check(worker, document, settings, os.getcwd())
                checked = sorted(checked + to_checked(document, deep.findings),
                                 key=lambda c: (c.problem.start, c.problem.code))
            out.append((path, document, checked))
    finally:
        await worker.stop()
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layercfg", description="Editors and CI that understand Keras layer and model configs."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    def keras_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--modules", metavar="M,...", help="Python modules with custom classes")
        p.add_argument("--implementation", default="keras", help=argparse.SUPPRESS)
        p.add_argument("--rebuild", action="store_true", help="rebuild the cached catalog")

    schema = sub.add_parser("schema", help="write the generated JSON Schema (2020-12)")
    keras_options(schema)
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")
    schema.set_defaults(func=cmd_schema)

    new = sub.add_parser("new", help="print a valid serialized config for CLASS")
    keras_options(new)
    new.add_argument("class_name", metavar="CLASS")
    new.add_argument(
        "assignments",
        nargs="*",
        metavar="key=value",
        help="constructor arguments; values are parsed as JSON where they parse",
    )
    new.set_defaults(func=cmd_new)

    lsp = sub.add_parser("lsp", help="run the language server (stdio by default)")
    lsp.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead")
    # vscode-languageclient adds --stdio to a server it starts over stdio.
    lsp.add_argument("--stdio", action="store_true", help="use stdin and stdout (the default)")
    lsp.set_defaults(func=cmd_lsp)

    check = sub.add_parser("check", help="validate files; directories are searched for "
                           "*.layercfg.json")
    keras_options(check)
    check.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    check.add_argument("--deep", action="store_true",
                       help="also run Keras's own from_config and build in the worker")
    check.add_argument("--timeout", type=float, default=20.0, metavar="S",
                       help="time limit of one deep check (default 20)")
    check.add_argument("--memory-mb", type=int, default=2048, metavar="MB",
                       help="memory cap of the deep-check worker (default 2048)")
    check.add_argument("--fix", action="store_true",
                       help="apply the fixes that have exactly one safe choice, in place")
    check.add_argument("--diff", action="store_true",
                       help="print those fixes as a unified diff instead of applying them "
                       "(exit 1 when there is one)")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(func=cmd_check)

    upgrade = sub.add_parser("upgrade", help="convert Keras 2 / tf_keras documents to the "
                             "Keras 3 format, in place")
    keras_options(upgrade)
    upgrade.add_argument("--diff", action="store_true",
                         help="print the changes as a unified diff instead of writing them")
    upgrade.add_argument("paths", nargs="+", metavar="FILE")
    upgrade.set_defaults(func=cmd_upgrade)
    return parser


def _version() -> str:
    from layercfg import __version__

    return f"layercfg {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"layercfg: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_USAGE
    except Exception as exc:
        # Imported here: the catalog module is not needed to start the language server.
        from layercfg.schema_builder.catalog import ModuleImportError
        from layercfg.schema_builder.generate import GenerateError

        if not isinstance(exc, (GenerateError, ModuleImportError)):
            raise
        print(f"layercfg: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
