"""The command line's words: the parser of every ``layercfg`` command and its options, with
options allowed anywhere on the line (``cli`` runs the command they name)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from layercfg.files import DEFAULT_MAX_SIZE_MB, max_size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layercfg", description="Editors and CI that understand Keras layer and model configs."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    def keras_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--modules", metavar="M,...", help="Python modules with custom classes")
        p.add_argument(
            "--flavor",
            choices=("keras", "tf_keras", "auto"),
            default=None,
            help="the Keras the catalog is of: Keras 3, tf_keras (Keras 2, needs "
            "the hub extra), or auto (the default)",
        )
        p.add_argument("--implementation", default="keras", help=argparse.SUPPRESS)
        p.add_argument("--rebuild", action="store_true", help="rebuild the cached catalog")

    def max_size_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--max-size",
            type=max_size,
            default=DEFAULT_MAX_SIZE_MB,
            metavar="MB",
            help="larger files are not read; each is an error, exit 2 (default "
            f"{DEFAULT_MAX_SIZE_MB})",
        )

    def diff_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--diff",
            action="store_true",
            help="print the changes as a unified diff instead of writing them",
        )

    def archive_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--in-place",
            action="store_true",
            help="a .keras archive: replace it (default: write NAME.upgraded.keras "
            "or NAME.fixed.keras next to it)",
        )
        p.add_argument(
            "--output", metavar="FILE", help="a .keras archive: write the new archive to FILE"
        )

    schema = sub.add_parser("schema", help="write the generated JSON Schema (2020-12)")
    keras_options(schema)
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")

    new = sub.add_parser("new", help="print a valid serialized config for CLASS")
    keras_options(new)
    new.add_argument("class_name", metavar="CLASS")
    new.add_argument(
        "assignments",
        nargs="*",
        metavar="key=value",
        help="constructor arguments; values are parsed as JSON where they parse",
    )
    new.add_argument(
        "--wrap", choices=("Sequential",), help="print a minimal model around the layer instead"
    )
    new.add_argument(
        "--input-shape",
        metavar="JSON",
        help="with --wrap: the input shape without the batch dimension ([] for "
        "a batch of scalars or strings)",
    )
    new.add_argument(
        "--input-dtype",
        metavar="DTYPE",
        help="with --wrap: the input dtype (default: the model's, else float32; "
        "string for a KerasLayer without a local model)",
    )

    lsp = sub.add_parser("lsp", help="run the language server (stdio by default)")
    lsp.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead")
    # vscode-languageclient adds --stdio to a server it starts over stdio.
    lsp.add_argument("--stdio", action="store_true", help="use stdin and stdout (the default)")

    check = sub.add_parser(
        "check", help="validate files; directories are searched for *.layercfg.json"
    )
    keras_options(check)
    check.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    check.add_argument(
        "--deep",
        action="store_true",
        help="also run Keras's own from_config and build in the worker",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="time limit of one deep check (default 20)",
    )
    check.add_argument(
        "--memory-mb",
        type=int,
        default=2048,
        metavar="MB",
        help="memory cap of the deep-check worker (default 2048)",
    )
    check.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe fixes in place: a did-you-mean clearly closest to "
        "what is written, that leaves no new error",
    )
    check.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix or --diff: also apply the best fix of each finding that has no safe one",
    )
    check.add_argument(
        "--diff",
        action="store_true",
        help="print those fixes as a unified diff instead of applying them "
        "(exit 1 when there is one)",
    )
    max_size_option(check)
    check.add_argument(
        "--detect",
        action="store_true",
        help="also check config.json files that are Keras's by content, and "
        ".keras archives, in the directories named",
    )
    check.add_argument(
        "--explain",
        action="store_true",
        help="with --detect: say why each config.json is checked or left alone",
    )
    archive_options(check)
    check.add_argument("paths", nargs="+", metavar="PATH")

    upgrade = sub.add_parser(
        "upgrade", help="convert Keras 2 / tf_keras documents to the Keras 3 format, in place"
    )
    keras_options(upgrade)
    diff_option(upgrade)
    max_size_option(upgrade)
    archive_options(upgrade)
    upgrade.add_argument("paths", nargs="+", metavar="FILE")

    convert = sub.add_parser(
        "convert",
        help="replace each tensorflow_hub.KerasLayer whose "
        "model is here by a keras.layers.TFSMLayer, in place",
    )
    diff_option(convert)
    max_size_option(convert)
    convert.add_argument("paths", nargs="+", metavar="FILE")
    return parser


def _version() -> str:
    from layercfg import __version__

    return f"layercfg {__version__}"


# The list positional of each command, which words found after an option belong to.
_TRAILING = {"new": "assignments", "check": "paths", "upgrade": "paths", "convert": "paths"}


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Options anywhere on the line: argparse fills the positionals from the first run of
    words, and the words after an option (``new Dense --modules m units=3``) are left over;
    they belong to the command's list positional."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    dest = _TRAILING.get(getattr(args, "command", ""))
    if extra and dest and not any(word.startswith("-") and word != "-" for word in extra):
        setattr(args, dest, [*getattr(args, dest), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args
