"""Command-line entry point: ``layercfg schema | new | lsp | check | upgrade`` (SPEC §4).

Exit codes: 0 success, 1 problems found, 2 usage or internal error, or a file that could not
be read or written (the other files are still processed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from layercfg.arguments import parse_arguments
from layercfg.files import EXIT_USAGE, Files, UsageError, unified_diff

if TYPE_CHECKING:
    from layercfg.schema_builder.catalog import CatalogData

EXIT_OK, EXIT_PROBLEMS = 0, 1


def _modules(value: str | None) -> tuple[str, ...]:
    """The module names of ``--modules``; a name that is not one (a path, ``a..b``) is a
    usage error, never handed to the import system."""
    from layercfg.server.settings import module_names

    try:
        return module_names(value or "")
    except ValueError as exc:
        raise UsageError(f"--modules: {exc}") from None


def _bounded_timeout(value: float) -> float:
    from layercfg.schema_builder.limits import MAX_TIMEOUT_S

    if not 0 < value <= MAX_TIMEOUT_S:
        raise UsageError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    return value


def _bounded_memory(value: int) -> int:
    from layercfg.schema_builder.limits import MAX_MEMORY_MB, MIN_MEMORY_MB

    if not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
        raise UsageError(f"--memory-mb must be {MIN_MEMORY_MB} to {MAX_MEMORY_MB}")
    return value


def _progress(message: str, percentage: int) -> None:
    print(f"layercfg: [{percentage:3d}%] {message}", file=sys.stderr)


def _implementation(args: argparse.Namespace) -> str:
    """The Keras implementation a command's catalog is of: ``--flavor``, else Keras 3."""
    flavor = getattr(args, "flavor", None) or "auto"
    if flavor == "auto":
        return args.implementation
    return flavor


def _catalog(args: argparse.Namespace, implementation: str | None = None) -> CatalogData:
    # Modules named on the command line are trusted by the person who named them; the current
    # directory is searched for them alone, after everything installed (so a file there
    # never stands in for a module of Python, Keras or TensorFlow), and not at all without
    # --modules.
    modules = _modules(args.modules)
    from layercfg.schema_builder import catalog, catalog_modules

    catalog_modules.add_module_folders(modules, os.getcwd())
    implementation = implementation or _implementation(args)
    if implementation == "tf_keras" and not _hub_installed():
        raise UsageError(
            "the tf_keras flavor needs tf_keras and tensorflow_hub: install the "
            "hub extra (README, Set up)"
        )
    return catalog.load_or_build(modules, implementation, progress=_progress, rebuild=args.rebuild)


def _hub_installed() -> bool:
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None for name in ("tf_keras", "tensorflow_hub")
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
    for package, counts in data.get("packages", {}).items():
        print(
            f"layercfg: note: package {package}: {counts.get('registered', 0)} registered "
            f"classes, {counts.get('defined', 0)} more defined in its submodules",
            file=sys.stderr,
        )
    for skipped in data["skipped"]:
        print(f"layercfg: note: {skipped['what']}: {skipped['reason']}", file=sys.stderr)
    return EXIT_OK


def _input_shape(value: str | None) -> list | None:
    if value is None:
        return None
    try:
        shape = json.loads(value)
    except ValueError:
        shape = None
    if not isinstance(shape, list) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape
    ):
        raise UsageError(
            f"--input-shape expects a JSON list of dimensions without the batch "
            f"dimension, such as [] or [28, 28, 1]; got {value!r}"
        )
    return shape


def _custom_objects(modules: tuple[str, ...]) -> dict:
    """The classes defined in the configured modules, by name: Keras's loader is told the
    unregistered ones this way. Nothing outside those modules is offered."""
    import inspect

    found: dict = {}
    for name in modules:
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        for attribute, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                found.setdefault(attribute, value)
    return found


def cmd_new(args: argparse.Namespace) -> int:
    from layercfg.schema_builder import external, generate
    from layercfg.schema_builder.keras_api import KerasAPI

    overrides = generate.parse_assignments(args.assignments)
    shape = _input_shape(args.input_shape)
    flavor = args.flavor or "auto"
    kind = external.kind_of(args.class_name)
    implementation = _implementation(args)
    if kind == "hub":
        if flavor == "keras":
            raise UsageError(
                "KerasLayer is a tf_keras (Keras 2) layer: use --flavor tf_keras "
                "(or auto), or TFSMLayer for a local SavedModel in Keras 3"
            )
        implementation = "tf_keras"
        if not _hub_installed():
            raise UsageError(
                "KerasLayer needs tensorflow_hub and tf_keras: install the hub "
                "extra (README, Set up)"
            )
    elif kind == "tfsm" and implementation == "tf_keras":
        raise UsageError(
            "TFSMLayer is a Keras 3 layer: use --flavor keras (or auto), or KerasLayer for tf_keras"
        )
    data: dict[str, Any] = dict(_catalog(args, implementation))  # as the generators take it
    modules = _modules(args.modules) if implementation == "keras" else ()
    api = KerasAPI(implementation)  # first: Keras imported quietly, before any module's import
    for module in modules:
        __import__(module)
    wrap = args.wrap
    base = os.getcwd()  # a relative handle or filepath is the user's, from here
    if kind == "hub":
        generated = external.new_hub_layer(
            data, overrides, api, wrap, shape, args.input_dtype, base
        )
    elif kind == "tfsm":
        generated = external.new_tfsm_layer(
            data, overrides, api, wrap, shape, args.input_dtype, base
        )
    else:
        custom = _custom_objects(modules)
        config = generate.new_config(data, args.class_name, overrides, api, custom)
        generated = external.Generated(config)
        if wrap:
            generated = external.wrap_layer(api, config, shape, args.input_dtype, custom)
        for note in (
            generate.sampled_note(data, args.class_name, overrides),
            generate.custom_objects_note(data, args.class_name),
        ):
            if note is not None:
                generated.notes.append(note)
    for note in generated.notes:
        print(f"layercfg: {note}", file=sys.stderr)
    sys.stdout.write(json.dumps(generated.config, indent=2) + "\n")
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
    from layercfg.server.server import create_server

    server = create_server()
    server.idle_gc.install()
    server.start_io()
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from layercfg import filekinds
    from layercfg.server import engine, flavor, report
    from layercfg.server.catalog import Catalog
    from layercfg.server.settings import Settings

    timeout, memory_mb = _bounded_timeout(args.timeout), _bounded_memory(args.memory_mb)
    kinds = filekinds.plan(args.paths, args.detect)  # archives, presets, --detect
    files = Files(kinds.plain, args.max_size)
    first = "tf_keras" if args.flavor == "tf_keras" else args.implementation
    catalogs = {first: Catalog.from_json(_catalog(args, first))}
    settings = Settings(
        modules=_modules(args.modules),
        trustWorkspace=True,
        deepCheckTimeout=timeout,
        deepCheckMemoryMB=memory_mb,
    )
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise UsageError("--unsafe-fixes goes with --fix or --diff")
    results = []
    diffs: list[str] = []
    outcomes: dict[str, Any] = {}
    flavors: dict[str, str] = {}  # path -> the Keras that checks it deeply too
    for path in files.paths:
        document = files.read(path)
        if document is None or filekinds.left_alone(path, document, kinds, args.explain):
            continue
        # Each document against the catalog of its flavor: forced, or detected (a Keras 2
        # document against tf_keras's, when the hub extra is installed).
        chosen = (
            first
            if args.flavor in ("keras", "tf_keras")
            else flavor.choose(None, document.value, _hub_installed())
        )
        if chosen not in catalogs:
            catalogs[chosen] = Catalog.from_json(_catalog(args, chosen))
        catalog = catalogs[chosen]
        flavors[path] = chosen
        if args.fix or args.diff:
            document = _fix(path, document, catalog, settings, args, diffs, files, outcomes)
        checked = flavor.adjust(engine.check(document, catalog, settings), chosen)
        results.append((path, document, checked))
    checker = filekinds.Checker(args, catalogs, settings, files, kinds)
    results += checker.run()
    flavors.update(checker.flavors)
    diffs += checker.diffs
    if args.diff:
        sys.stdout.write("".join(diffs))
        return files.exit_code(EXIT_PROBLEMS if diffs else EXIT_OK)
    if args.deep:
        import asyncio

        results = asyncio.run(_deep(results, settings, args, flavors))
    rendered = report.render(results, args.format)
    if args.fix and args.format == "json":
        rendered = _with_fixes(rendered, outcomes)
    sys.stdout.write(rendered)
    errors = any(c.problem.severity == 1 for _, _, checked in results for c in checked)
    return files.exit_code(EXIT_PROBLEMS if errors else EXIT_OK)


def _fix(
    path: str,
    document,
    catalog,
    settings,
    args: argparse.Namespace,
    diffs: list[str],
    files: Files,
    outcomes: dict[str, Any],
):
    """Apply the safe fixes (``--fix``; with ``--unsafe-fixes`` the best unsafe one of the other
    findings too), or note their diff (``--diff``); the document to report on (the one read
    when the file was not written). What was applied and what was left, with the reason, goes
    to stderr (and into the JSON output)."""
    from layercfg.server.document import Document
    from layercfg.server.services.fix_safety import apply_fixes

    outcome = apply_fixes(document, catalog, settings, unsafe=args.unsafe_fixes)
    if args.diff:
        if outcome.text != document.text:
            diffs.append(unified_diff(path, document.text, outcome.text))
        return document
    changed = outcome.text != document.text
    written = changed and files.write(path, outcome.text)
    if changed and not written:
        return document  # the reason is reported; the file's own findings are on stdout
    outcomes[path] = outcome
    say_fixes(path, outcome)
    return Document.parse(document.uri, outcome.text) if written else document


def say_fixes(path: str, outcome: Any) -> None:
    """On stderr: each fix applied, each finding left with the reason, and the count."""
    for fix in outcome.applied:
        kind = "safe" if fix.safe else "unsafe"
        print(f"layercfg: {path}: fixed {fix.code} ({kind}): {fix.title}", file=sys.stderr)
    for left in outcome.left:
        position = outcome.document.lines.position_at(left.checked.problem.start)
        print(
            f"layercfg: {path}:{position.line + 1}:{position.character + 1}: not fixed "
            f"{left.checked.problem.code}: {left.reason}",
            file=sys.stderr,
        )
    count = len(outcome.applied)
    if count or outcome.left:
        print(
            f"layercfg: {path}: applied {count} fix{'es' if count != 1 else ''}, "
            f"{len(outcome.left)} problem(s) left",
            file=sys.stderr,
        )


def _with_fixes(rendered: str, outcomes: dict[str, Any]) -> str:
    """The JSON report with a ``fixes`` member per file: what ``--fix`` applied (code, title,
    applicability) and what it left (code, pointer, reason)."""
    from layercfg.server.engine import json_pointer

    report = json.loads(rendered)
    for item in report.get("files", []):
        outcome = outcomes.get(item.get("path"))
        if outcome is None:
            continue
        item["fixes"] = {
            "applied": [
                {"code": f.code, "title": f.title, "applicability": "safe" if f.safe else "unsafe"}
                for f in outcome.applied
            ],
            "left": [
                {
                    "code": left.checked.problem.code,
                    "pointer": json_pointer(left.checked.path),
                    "reason": left.reason,
                    **({"fix": left.fix.title} if left.fix is not None else {}),
                }
                for left in outcome.left
            ],
        }
    return json.dumps(report, indent=2) + "\n"


def _parsed_object(path: str, document, done: str) -> bool:
    """Whether the document is a JSON object that parses; if not, says it is not ``done``."""
    if any(p.code == "LCF001" for p in document.problems) or not isinstance(document.value, dict):
        print(f"layercfg: {path}: not a JSON object that parses; not {done}", file=sys.stderr)
        return False
    return True


def cmd_upgrade(args: argparse.Namespace) -> int:
    from layercfg import filekinds
    from layercfg.server.catalog import Catalog
    from layercfg.server.services.fixes import rewrite_whole
    from layercfg.server.services.formatting import apply_edits
    from layercfg.server.services.upgrade import upgrade

    kinds = filekinds.plan(args.paths)
    files = Files(kinds.plain, args.max_size)
    catalog = Catalog.from_json(_catalog(args))
    failed = False
    diffs = []
    for path in [*files.paths, *kinds.archives]:
        if path in kinds.archives:
            failed |= not filekinds.upgrade_archive(path, files, catalog, args)
            continue
        document = files.read(path)
        if document is None:
            continue
        text = document.text
        if not _parsed_object(path, document, "upgraded"):
            failed = True
            continue
        _quiet_tensorflow(document.text)
        result = upgrade(
            document.value, catalog, os.path.dirname(os.path.abspath(path)), read_endpoints=True
        )
        for note in result.notes:
            print(f"layercfg: {path}: note: {note}", file=sys.stderr)
        new_text = apply_edits(text, rewrite_whole(document, result.value))
        if new_text == text:
            print(f"layercfg: {path}: already in the Keras 3 format", file=sys.stderr)
        elif args.diff:
            diffs.append(unified_diff(path, text, new_text))
        elif files.write(path, new_text):
            print(f"layercfg: {path}: upgraded to the Keras 3 format", file=sys.stderr)
    sys.stdout.write("".join(diffs))
    return files.exit_code(EXIT_PROBLEMS if failed else EXIT_OK)


def _quiet_tensorflow(text: str) -> None:
    """For a document with a KerasLayer, whose saved_model.pb is read with TensorFlow's
    protobufs: import TensorFlow first, without its start-up lines on stderr (oneDNN, CPU
    features). Any other document does not wait for TensorFlow."""
    import importlib.util

    if "KerasLayer" in text and importlib.util.find_spec("tensorflow") is not None:
        from layercfg.schema_builder.keras_api import _quiet_import

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        _quiet_import("tensorflow")


def cmd_convert(args: argparse.Namespace) -> int:
    """tensorflow_hub.KerasLayer -> keras.layers.TFSMLayer, in place (or ``--diff``); what has
    no equivalent is a note on stderr; a layer that cannot be converted is left, exit 1."""
    from layercfg.server.services.convert import convert_document
    from layercfg.server.services.fixes import rewrite_whole
    from layercfg.server.services.formatting import apply_edits

    files = Files(args.paths, args.max_size)
    failed = False
    diffs = []
    for path in files.paths:
        document = files.read(path)
        if document is None:
            continue
        if not _parsed_object(path, document, "converted"):
            failed = True
            continue
        _quiet_tensorflow(document.text)
        value, notes, refused = convert_document(
            document.value, os.path.dirname(os.path.abspath(path)), read_endpoints=True
        )
        for note in notes:
            print(f"layercfg: {path}: note: {note}", file=sys.stderr)
        for reason in refused:
            print(f"layercfg: {path}: {reason}", file=sys.stderr)
        failed = failed or bool(refused)
        new_text = apply_edits(document.text, rewrite_whole(document, value))
        if new_text == document.text:
            if not refused:
                print(f"layercfg: {path}: no tensorflow_hub.KerasLayer to convert", file=sys.stderr)
        elif args.diff:
            diffs.append(unified_diff(path, document.text, new_text))
        elif files.write(path, new_text):
            print(f"layercfg: {path}: converted to keras.layers.TFSMLayer", file=sys.stderr)
    sys.stdout.write("".join(diffs))
    return files.exit_code(EXIT_PROBLEMS if failed else EXIT_OK)


async def _deep(
    results: list, settings, args: argparse.Namespace, flavors: dict[str, str] | None = None
) -> list:
    """Keras's own check of every file that parses, in one worker, with the usual limits, by
    the Keras of each file's flavor."""
    from layercfg.server.deepcheck import beyond_fast, run_check, to_checked
    from layercfg.server.worker import WorkerClient

    worker = WorkerClient()
    out = []
    try:
        for path, document, checked in results:
            if document.syntax_ok and isinstance(document.value, dict):
                deep = await run_check(
                    worker,
                    document,
                    settings,
                    os.getcwd(),
                    implementation=(flavors or {}).get(path, "keras"),
                )
                checked = sorted(
                    checked + beyond_fast(to_checked(document, deep.findings), checked),
                    key=lambda c: (c.problem.start, c.problem.code),
                )
            out.append((path, document, checked))
    finally:
        await worker.stop()
    return out


COMMANDS = {
    "schema": cmd_schema,
    "new": cmd_new,
    "lsp": cmd_lsp,
    "check": cmd_check,
    "upgrade": cmd_upgrade,
    "convert": cmd_convert,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        _modules(getattr(args, "modules", None))  # refused before any command starts
        return int(COMMANDS[args.command](args))
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
        where = (
            ": not installed, nor in the current directory or its src/ (run layercfg where "
            "the module is, or install it)"
            if isinstance(exc, ModuleImportError)
            else ""
        )
        print(f"layercfg: error: {exc}{where}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
