"""The command line's files that are not ``*.layercfg.json``: ``.keras`` archives (their
``config.json``), KerasHub preset folders (checked as a unit, drift between the files
reported), and, with ``--detect``, ``config.json`` files that are Keras's by content.

``layercfg check`` and ``layercfg upgrade`` hand these over here; the reading and writing
rules are the ones of ``files.Files`` (regular files, no links out of the tree, size caps).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from layercfg import files
from layercfg.files import unified_diff
from layercfg.server import archives, detect, presets

if TYPE_CHECKING:
    from layercfg.server.catalog import Catalog
    from layercfg.server.document import Document
    from layercfg.server.engine import Checked


def _note(message: str) -> None:
    print(f"layercfg: note: {message}", file=sys.stderr)


@dataclass
class Plan:
    """The paths of a command sorted by kind: ``plain`` goes to ``files.Files`` as before;
    archives and presets are handled here. ``config`` holds the ``config.json`` files that
    ``--detect`` classifies by content once read."""

    plain: list[str] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    config: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)


def plan(paths: list[str], detecting: bool = False) -> Plan:
    """Named ``.keras`` files and preset folders are always taken as such; with ``detecting``
    a directory is searched for ``*.layercfg.json``, ``config.json`` and ``*.keras`` files,
    and the folders of those ``config.json`` files that are presets become presets."""

    out = Plan()
    for path in paths:
        if os.path.isdir(path) and presets.is_preset(path):
            out.presets.append(path)
        elif os.path.isdir(path) and detecting:
            for found in files.walk(path, out.links, _wanted):
                _sort(found, out, detecting)
        elif not os.path.isdir(path):
            _sort(path, out, detecting, named=True)
        else:
            out.plain.append(path)
    return out


def _wanted(name: str) -> bool:
    return name.endswith((".layercfg.json", archives.SUFFIX)) or detect.is_candidate(name)


def _sort(path: str, out: Plan, detecting: bool, named: bool = False) -> None:
    name = os.path.basename(path)
    if archives.is_archive_path(path) and (named or detecting):
        if named and os.path.islink(path):
            out.links.add(path)  # named on the line: read through the link
        out.archives.append(path)
    elif detecting and detect.is_candidate(name):
        folder = os.path.dirname(path) or "."
        if presets.is_preset(folder):
            if folder not in out.presets:
                out.presets.append(folder)
        else:
            out.config.add(path)
            out.plain.append(path)
    else:
        out.plain.append(path)


def left_alone(path: str, document: Document, kinds: Plan, explain: bool) -> bool:
    """Whether a ``config.json`` that ``--detect`` found is not Keras's (a note with the
    reason under ``--explain``)."""
    if path not in kinds.config:
        return False
    found = detect.classify_file(path, document.value)
    if explain:
        _note(f"{path}: {'checked' if found.keras else 'skipped'}: {found.reason}")
    return not found.keras


class Checker:
    """The catalogs and settings of one ``check`` run, for the files handled here."""

    def __init__(
        self,
        args: argparse.Namespace,
        catalogs: dict[str, Catalog],
        settings: Any,
        files: Any,
        kinds: Plan,
    ) -> None:
        self.args, self.catalogs, self.settings, self.files = args, catalogs, settings, files
        self.kinds = kinds
        # Each result's path -> the Keras that checks it deeply too (as its fast checks).
        self.flavors: dict[str, str] = {}
        self.diffs: list[str] = []  # --diff: the archives' changes

    def run(self) -> list[tuple]:
        """The results of the archives and presets, in the order named."""
        results = []
        for path in self.kinds.archives:
            result = self.archive(path)
            if result is not None:
                results.append(result)
        for folder in self.kinds.presets:
            results.extend(self.preset(folder))
        return results

    def catalog(self, value: Any) -> tuple[Catalog, str]:
        from layercfg import cli
        from layercfg.server import flavor
        from layercfg.server.catalog import Catalog

        args = self.args
        forced = "tf_keras" if args.flavor == "tf_keras" else args.implementation
        chosen = (
            forced
            if args.flavor in ("keras", "tf_keras")
            else flavor.choose(None, value, cli._hub_installed())
        )
        if chosen not in self.catalogs:
            self.catalogs[chosen] = Catalog.from_json(cli._catalog(args, chosen))
        return self.catalogs[chosen], chosen

    def fast(self, document: Document, path: str) -> list[Checked]:
        from layercfg.server import engine, flavor

        catalog, chosen = self.catalog(document.value)
        self.flavors[path] = chosen
        return flavor.adjust(engine.check(document, catalog, self.settings), chosen)

    # -- archives -------------------------------------------------------------------------------
    def archive(self, path: str) -> tuple | None:
        """(display path, document of the pretty view, findings) of an archive's config."""
        from layercfg.server import engine
        from layercfg.server.document import Document

        try:
            # A link the walk found inside the tree, or one named, is read through.
            archive = archives.read(
                path,
                self.files.max_bytes,
                follow=path in self.kinds.links or not os.path.islink(path),
            )
        except archives.ArchiveError as exc:
            self.files.error(str(exc))
            return None
        document = Document.parse(archives.view_uri(path), archive.view)
        report_as = path
        if getattr(self.args, "fix", False) or getattr(self.args, "diff", False):
            document, report_as = self._fix_archive(path, archive, document)
        shown = archives.MemberPath(report_as, archive.member)
        checked = self.fast(document, shown)
        if self.args.flavor != "tf_keras":
            finding = archives.dialect_finding(archive, document.value)
            if finding is not None:
                checked = [c for c in checked if c.problem.code != "LCF108"]
                checked.insert(
                    0, engine.Checked(engine.locate_finding(document, finding), finding.path)
                )
        return shown, document, checked

    def _fix_archive(
        self, path: str, archive: archives.Archive, document: Document
    ) -> tuple[Document, str]:
        """``--fix``: the config upgraded (tf.keras 2's) and fixed as a plain file is, written
        as a new archive, with what was fixed and left on stderr; ``--diff``: the changes.
        The document to report on, and the archive it is in (the new one once written)."""
        from layercfg import cli
        from layercfg.server.document import Document
        from layercfg.server.services.fix_safety import apply_fixes

        catalog, _ = self.catalog(document.value)
        text = document.text
        notes: list[str] = []
        if archives.dialect_finding(archive, document.value) is not None:
            upgraded = upgraded_text(document.value, catalog, pretty=True)
            if upgraded is not None:
                text, notes = upgraded
        outcome = apply_fixes(
            Document.parse(document.uri, text),
            catalog,
            self.settings,
            unsafe=getattr(self.args, "unsafe_fixes", False),
        )
        if outcome.text == archive.view:
            return document, path
        if getattr(self.args, "diff", False):
            shown = f"{path}!{archive.member}"
            self.diffs.append(unified_diff(shown, archive.view, outcome.text))
            return document, path
        for note in notes:
            _note(f"{path}: {note}")
        target = write_archive(path, archive, outcome.text, self.args, "fixed", self.files)
        if target is None:
            return document, path
        cli.say_fixes(f"{path}!{archive.member}", outcome)
        return Document.parse(archives.view_uri(target), outcome.text), target

    # -- presets --------------------------------------------------------------------------------
    def preset(self, folder: str) -> list[tuple]:
        """Each file of the preset, checked, with the drift between them."""
        documents: dict[str, tuple[str, Any]] = {}
        for path in presets.files(folder):
            document = self.files.read(path)
            if document is not None:
                documents[os.path.basename(path)] = (path, document)
        drift = presets.drift(documents)
        results = []
        for name, (path, document) in documents.items():
            if name == presets.METADATA:
                checked = presets.check_metadata(document)
            else:
                checked = self.fast(document, path)
            checked = sorted(
                checked + drift.get(name, []), key=lambda c: (c.problem.start, c.problem.code)
            )
            results.append((path, document, checked))
        return results


def upgraded_text(value: Any, catalog: Catalog, pretty: bool) -> tuple[str, list[str]] | None:
    """The Keras 3 text of a config tf.keras 2 wrote (its internal modules taken out first),
    and the upgrade's notes; None for a value that is not an object."""
    from layercfg.server.services.upgrade import upgrade

    if not isinstance(value, dict):
        return None
    result = upgrade(archives.clear_keras2_modules(copy.deepcopy(value)), catalog)
    text = json.dumps(result.value, ensure_ascii=False)
    return (archives.pretty(text) if pretty else text), result.notes


def write_archive(
    path: str,
    archive: archives.Archive,
    view_text: str,
    args: argparse.Namespace,
    tag: str,
    files: Any,
) -> str | None:
    """A new archive with ``view_text`` as its config (on one line, as Keras writes it, when
    the member was): at ``--output``, over the original with ``--in-place``, else next to it
    as ``NAME.<tag>.keras``. The other members are copied byte for byte. Its path, or None
    after an error line."""
    in_place = getattr(args, "in_place", False)
    target = (
        path if in_place else (getattr(args, "output", None) or archives.output_path(path, tag))
    )
    text = view_text if "\n" in archive.raw.strip() else archives.compact(view_text)
    try:
        archives.write(path, target, text, archive.opened, archive.member, replace=in_place)
    except archives.ArchiveError as exc:
        files.error(str(exc))
        return None
    where = "in place" if in_place else f"to {target}"
    print(f"layercfg: {path}: wrote the {tag} archive {where}", file=sys.stderr)
    return target


def upgrade_archive(path: str, files: Any, catalog: Any, args: argparse.Namespace) -> bool:
    """``layercfg upgrade`` of an archive; False when it could not be read."""
    try:
        archive = archives.read(path, files.max_bytes)
    except archives.ArchiveError as exc:
        files.error(str(exc))
        return True
    from layercfg.server.document import Document

    document = Document.parse(archives.view_uri(path), archive.view)
    if not document.syntax_ok or not isinstance(document.value, dict):
        print(
            f"layercfg: {path}: its {archive.member} is not a JSON object that parses; not "
            "upgraded",
            file=sys.stderr,
        )
        return False
    upgraded = upgraded_text(document.value, catalog, pretty=True)
    assert upgraded is not None
    text, notes = upgraded
    for note in notes:
        _note(f"{path}: {note}")
    if json.loads(text) == document.value:
        print(f"layercfg: {path}: already in the Keras 3 format", file=sys.stderr)
        return True
    if getattr(args, "diff", False):
        sys.stdout.write(unified_diff(f"{path}!{archive.member}", archive.view, text))
        return True
    write_archive(path, archive, text, args, "upgraded", files)
    return True
