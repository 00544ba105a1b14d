"""Command-line entry point: ``layercfg schema | new`` (SPEC §4).

Exit codes: 0 success, 1 problems found, 2 usage or internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


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
    return parser


def _version() -> str:
    from layercfg import __version__

    return f"layercfg {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from layercfg.schema_builder.catalog import ModuleImportError
    from layercfg.schema_builder.generate import GenerateError

    try:
        return int(args.func(args))
    except (GenerateError, ModuleImportError) as exc:
        print(f"layercfg: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
