"""``.keras`` archives: their ``config.json`` read with zip-bomb caps, shown pretty-printed, and
written back into a new archive whose other members (the weights) are copied unchanged.

Pure Python (``zipfile``), no Keras: the server uses it for ``layercfg://`` documents and the
command line for ``check``/``upgrade`` of an archive. Nothing is ever extracted to disk.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

CONFIG = "config.json"
METADATA = "metadata.json"
SUFFIX = ".keras"
SCHEME = "layercfg"

# A Keras archive holds three members (config, metadata, weights) plus its assets; these caps
# are far above any real one and far below what would hurt.
MAX_MEMBERS = 10_000
MAX_NAME_LENGTH = 1024
MAX_NAME_DEPTH = 32
# A central directory entry: its 46 bytes, its name, and room for its extra field and comment.
# ``zipfile`` reads the whole directory and parses every entry in it, whatever count the end
# record declares; a directory longer than the declared count allows is refused first.
MAX_ENTRY_BYTES = 46 + MAX_NAME_LENGTH + 512
# A member that declares this many times its stored size is a bomb, not JSON (Keras itself
# stores its members uncompressed, and refuses 100x).
MAX_RATIO = 100
RATIO_FLOOR = 1 << 20
DEFAULT_MAX_BYTES = 64 << 20
METADATA_MAX_BYTES = 1 << 20
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"


class ArchiveError(Exception):
    """An archive that is not read: not a regular file, not a zip, over a cap, no config."""


@dataclass
class Archive:
    """What ``read`` takes out of an archive: the config member's text (as stored and as
    shown), the metadata, and the member list."""

    path: str
    member: str
    raw: str  # the member's text as stored (Keras writes it on one line)
    view: str  # the text as shown and checked: pretty-printed, token for token the same
    metadata: dict[str, Any] | None
    members: list[str] = field(default_factory=list)
    opened: os.stat_result | None = None

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member}"

    @property
    def keras_version(self) -> str | None:
        version = (self.metadata or {}).get("keras_version")
        return version if isinstance(version, str) else None


def is_archive_path(path: str) -> bool:
    return path.endswith(SUFFIX)


# -- reading ------------------------------------------------------------------------------------


def _open_regular(path: str, follow: bool = True) -> int:
    """A read-only descriptor of a regular file; a FIFO or a device is refused before a byte
    is read (O_NONBLOCK: a FIFO cannot block the open)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and os.path.islink(path):
            raise ArchiveError(f"{path}: not read: it became a symbolic link") from None
        raise ArchiveError(f"cannot read {path}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ArchiveError(f"{path}: not read: not a regular file")
    return fd


def _declared_members(handle: Any, size: int) -> int:
    """The member count the end of central directory record declares, read before ``zipfile``
    reads the directory (a directory of millions of entries would be read whole)."""
    tail = min(size, 22 + 0xFFFF)
    handle.seek(size - tail)
    data = handle.read(tail)
    at = data.rfind(_EOCD)
    if at < 0 or at + 22 > len(data):
        raise ArchiveError("not a zip archive (no end of central directory)")
    count, directory = struct.unpack("<HI", data[at + 10 : at + 16])
    # As zipfile reads it: whenever a ZIP64 locator precedes the end record, the ZIP64 record
    # just before the locator (not where the locator points) replaces the end record's counts.
    if at >= 20 and data[at - 20 : at - 16] == _EOCD64_LOCATOR:
        start = size - tail + at - 20 - 56
        if start >= 0:
            handle.seek(start)
            record = handle.read(56)
            if record[:4] == _EOCD64:
                count, directory = struct.unpack("<QQ", record[32:48])
    if count <= MAX_MEMBERS and directory > max(count, 1) * MAX_ENTRY_BYTES:
        raise ArchiveError(
            f"a central directory of {directory} bytes for {count} members: "
            "its entries are not what the archive declares"
        )
    return count


def unsafe_name(name: str) -> str | None:
    """Why a member name is refused (None: it is fine). Keras writes plain relative names;
    nothing here extracts, but a new archive must not carry a name that would escape a
    folder where someone else extracts it."""
    if not name or len(name) > MAX_NAME_LENGTH:
        return "an empty or overlong name"
    if "\x00" in name or "\\" in name:
        return "a NUL or backslash in the name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "a '..' step"
    if len(parts) > MAX_NAME_DEPTH:
        return f"more than {MAX_NAME_DEPTH} nested folders"
    return None


def _check_members(infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        reason = unsafe_name(info.filename)
        if reason:
            raise ArchiveError(f"member {info.filename[:80]!r} has {reason}")
        if info.filename in seen:
            raise ArchiveError(f"member {info.filename!r} appears twice")
        # A Unix mode in the high bits: unzip and bsdtar make a link of it, through which
        # the members after it are extracted anywhere; Keras writes none.
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"member {info.filename[:80]!r} is not a file (a link or device)")
        seen.add(info.filename)


def _check_sizes(infos: list[zipfile.ZipInfo], size: int) -> None:
    """Every member is copied when an archive is written: none may be a bomb, and together
    they may not store more than the archive holds (entries whose data overlap copy the same
    bytes again and again: a small archive that writes gigabytes)."""
    stored = 0
    for info in infos:
        stored += info.compress_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveError(
                f"{info.filename} expands {info.file_size} bytes from "
                f"{info.compress_size}: more than {MAX_RATIO} times, a zip bomb"
            )
    if stored > size:
        raise ArchiveError(
            f"its members store {stored} bytes in an archive of {size}: their entries overlap"
        )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """The member's bytes, at most ``max_bytes`` whatever its header declares."""
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{info.filename} is encrypted")
    if info.file_size > max_bytes:
        raise ArchiveError(
            f"{info.filename} declares {info.file_size} bytes, more than the "
            f"cap of {max_bytes} (--max-size)"
        )
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ArchiveError(
            f"{info.filename} expands {info.file_size} bytes from "
            f"{info.compress_size}: more than {MAX_RATIO} times, a zip bomb"
        )
    out = bytearray()
    try:
        with archive.open(info) as stream:
            while len(out) <= max_bytes:
                chunk = stream.read(min(1 << 20, max_bytes + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ArchiveError(f"{info.filename} cannot be read: {exc}") from None
    if len(out) > max_bytes:
        raise ArchiveError(
            f"{info.filename} holds more than the cap of {max_bytes} bytes "
            "(--max-size), whatever its header says"
        )
    return bytes(out)


def read(
    path: str, max_bytes: int = DEFAULT_MAX_BYTES, member: str = CONFIG, follow: bool = True
) -> Archive:
    """The archive's config member (``config.json``) and metadata, read with the caps: a
    regular file, at most ``MAX_MEMBERS`` members of safe names, the member at most
    ``max_bytes`` declared and read, at most ``MAX_RATIO`` times its stored size."""
    fd = _open_regular(path, follow)
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        try:
            count = _declared_members(handle, opened.st_size)
            if count > MAX_MEMBERS:
                raise ArchiveError(f"{count} members, more than the cap of {MAX_MEMBERS}")
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                infos = archive.infolist()
                if len(infos) > MAX_MEMBERS:
                    raise ArchiveError(f"{len(infos)} members, more than {MAX_MEMBERS}")
                _check_members(infos)
                by_name = {info.filename: info for info in infos}
                if member not in by_name:
                    raise ArchiveError(
                        f"no {member} at the top of the archive: not a Keras archive"
                    )
                data = _read_member(archive, by_name[member], max_bytes)
                metadata = None
                if METADATA in by_name:
                    metadata = _metadata(
                        _read_member(archive, by_name[METADATA], METADATA_MAX_BYTES)
                    )
        except ArchiveError as exc:
            raise ArchiveError(f"{path}: not read: {exc}") from None
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            OSError,
            EOFError,
            ValueError,
            struct.error,
        ) as exc:
            raise ArchiveError(f"{path}: not read: not a zip archive Keras wrote ({exc})") from None
    raw = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    return Archive(
        path=path,
        member=member,
        raw=raw,
        view=pretty(raw),
        metadata=metadata,
        members=[info.filename for info in infos],
        opened=opened,
    )


def _metadata(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


# -- the pretty view ----------------------------------------------------------------------------


# A string (an unterminated one runs to the end), a punctuation mark, a run of anything else,
# or whitespace.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[{}\[\],:]|[^ \t\r\n"{}\[\],:]+|[ \t\r\n]+', re.S)


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of JSON-ish tokens: strings, punctuation, and runs of anything else; the
    whitespace between them is dropped. Unterminated strings run to the end."""
    for match in _TOKEN.finditer(text):
        token = match[0]
        first = token[0]
        if first in " \t\r\n":
            continue
        yield ("string" if first == '"' else first if first in "{}[],:" else "atom"), token


def pretty(text: str, indent: int = 2) -> str:
    """``text`` re-indented, token for token the same (duplicate keys, NaN and syntax errors
    stay where they were, so findings are the member's own): one member or item per line,
    empty containers kept as ``{}`` / ``[]``. A text already on several lines is kept.

    The tokens are not kept (a list of them costs some 100 bytes each, gigabytes for a
    member at the size cap): the view is written as they are read."""
    if "\n" in text.strip():
        return text
    # Indentation grows with depth: a deeply nested text ("[[[[...") would be quadratically
    # long pretty-printed; past this budget (at most one indented line per token) it is shown
    # as stored.
    budget, level, added = 16 * len(text) + (1 << 20), 0, 0
    out = io.StringIO()
    depth = 0
    previous: str | None = None
    pending = False  # a bracket opened, its line break not yet written
    for kind, token in _tokens(text):
        level = level + 1 if kind in "{[" else max(level - 1, 0) if kind in "}]" else level
        added += 1 + indent * level
        if added > budget:
            return text
        if pending:
            if kind not in ("}", "]"):
                depth += 1
                out.write("\n" + " " * (indent * depth))
            pending = False
        if kind in "{[":
            out.write(token)
            pending = True
        elif kind in "}]":
            if previous not in ("{", "["):
                depth = max(depth - 1, 0)
                out.write("\n" + " " * (indent * depth))
            out.write(token)
        elif kind == ",":
            out.write(",\n" + " " * (indent * depth))
        elif kind == ":":
            out.write(": ")
        else:
            out.write(token)
        previous = kind
    if pending:  # the text ends in an open bracket
        out.write("\n" + " " * (indent * (depth + 1)))
    return out.getvalue() + "\n"


def compact(text: str) -> str:
    """``text`` on one line the way ``json.dumps`` writes it (``", "`` and ``": "``)."""
    out: list[str] = []
    for kind, token in _tokens(text):
        out.append({",": ", ", ":": ": "}.get(kind, token))
    return "".join(out)


# -- dialect ------------------------------------------------------------------------------------


def saved_by_keras2(archive: Archive) -> bool:
    version = archive.keras_version
    return version is not None and version.startswith(("1.", "2."))


def keras2_modules(value: Any, limit: int = 100_000) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, module) of envelopes whose ``module`` is a tf.keras 2 internal one that Keras 3
    cannot import (``keras.src.engine.functional``, ``keras.engine...``, ``tf_keras...``)."""
    found = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    seen = 0
    while stack and seen < limit:
        path, node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            module = node.get("module")
            if isinstance(module, str) and is_keras2_module(module) and "class_name" in node:
                found.append(((*path, "module"), module))
            stack.extend(((*path, k), v) for k, v in node.items() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node) if isinstance(v, (dict, list)))
    found.sort()
    return found


def is_keras2_module(module: str) -> bool:
    return module.startswith(
        (
            "keras.src.engine.",
            "keras.engine.",
            "tf_keras.",
            "keras.src.legacy.",
            "keras.src.saving.legacy.",
        )
    ) or module in ("keras.src.engine", "keras.engine", "tf_keras")


def dialect_finding(archive: Archive, value: Any):
    """The LCF108 finding of a config tf.keras 2 wrote (``metadata.json`` says ``keras_version``
    2.x): an error where Keras 3 cannot load it (a tf.keras internal ``module`` such as
    ``keras.src.engine.functional``), else a warning; its data makes the upgrade its fix."""
    from .services.validation import Finding

    if not saved_by_keras2(archive) or not isinstance(value, dict):
        return None
    modules = keras2_modules(value)
    from . import flavor

    if not modules and flavor.detect(value) != "tf_keras":
        return None
    cannot = bool(modules)
    path: tuple[str | int, ...] = ("class_name",) if "class_name" in value else ()
    if cannot:
        path = modules[0][0]  # what Keras 3 stops at
    message = (
        f"Saved by tf.keras {archive.keras_version} ({METADATA}): "
        + (
            f"Keras 3 cannot load it (module {modules[0][1]!r} is tf.keras 2's own). "
            if cannot
            else "Keras 3 still loads it, but writes it otherwise. "
        )
        + "Upgrade it: `layercfg upgrade` writes a Keras 3 archive next to it, with the "
        "same weights."
    )
    markers = [
        {"path": list(p), "code": "LCF108", "key": "module", "value": m} for p, m in modules[:200]
    ]
    return Finding(
        path=path,
        part="value" if path else "open",
        code="LCF108",
        message=message,
        severity=1 if cannot else 2,
        data={
            "kind": "keras2",
            "archive": True,
            "keras_version": archive.keras_version,
            "markers": markers,
        },
        related=tuple((p, "value", f"tf.keras 2 module {m!r}") for p, m in modules[:50]),
    )


def clear_keras2_modules(value: Any) -> Any:
    """``value`` with the tf.keras 2 internal modules taken out of its envelopes, so that the
    upgrade fills in the ones Keras 3 writes (it keeps a ``module`` that is there)."""
    for path, _ in keras2_modules(value):
        node = value
        for step in path[:-1]:
            node = node[step]
        node.pop("module", None)
    return value


# -- writing ------------------------------------------------------------------------------------


def output_path(path: str, tag: str) -> str:
    """``model.keras`` -> ``model.<tag>.keras``: where a new archive goes by default."""
    stem = path[: -len(SUFFIX)] if path.endswith(SUFFIX) else path
    return f"{stem}.{tag}{SUFFIX}"


def write(
    source: str,
    target: str,
    config_text: str,
    read_as: os.stat_result | None,
    member: str = CONFIG,
    replace: bool = False,
) -> None:
    """A new archive at ``target``: the members of ``source`` in their order, each copied
    byte for byte (weights, assets, metadata) except ``member``, which holds ``config_text``.
    It goes to a temporary file in ``target``'s folder that then takes its place, so an
    interrupted write loses nothing; ``target`` must not exist unless ``replace`` (it is
    ``source`` for ``--in-place``), and is never a symbolic link. ``source`` must still be
    the file read as ``read_as``."""
    if os.path.lexists(target):
        if not replace:
            raise ArchiveError(
                f"{target}: not written: it exists (remove it, or name another with --output)"
            )
        now = os.lstat(target)
        if stat.S_ISLNK(now.st_mode):
            raise ArchiveError(
                f"{target}: not written: it is a symbolic link, and layercfg "
                "never writes through one"
            )
        if not stat.S_ISREG(now.st_mode):
            raise ArchiveError(f"{target}: not written: not a regular file")
    fd = _open_regular(source, follow=False)
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if read_as is not None and (
            opened.st_dev,
            opened.st_ino,
            opened.st_size,
            opened.st_mtime_ns,
        ) != (read_as.st_dev, read_as.st_ino, read_as.st_size, read_as.st_mtime_ns):
            raise ArchiveError(f"{source}: not written: it changed after it was read")
        directory, name = os.path.split(os.path.abspath(target))
        try:
            out_fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise ArchiveError(f"cannot write {target}: {exc.strerror}") from None
        try:
            with os.fdopen(out_fd, "wb") as out, zipfile.ZipFile(handle) as zin:
                _check_members(zin.infolist())
                _check_sizes(zin.infolist(), opened.st_size)
                with zipfile.ZipFile(out, "w") as zout:
                    for info in zin.infolist():
                        copy = _copy_info(info)
                        if info.filename == member:
                            data = config_text.encode("utf-8", errors="surrogateescape")
                            zout.writestr(copy, data)
                            continue
                        with zin.open(info) as src, zout.open(copy, "w", force_zip64=True) as dst:
                            while chunk := src.read(1 << 20):
                                dst.write(chunk)
                out.flush()
                os.chmod(temporary, stat.S_IMODE(opened.st_mode))
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if isinstance(exc, (OSError, zipfile.BadZipFile)):
                raise ArchiveError(f"cannot write {target}: {exc}") from None
            raise


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.create_system = info.create_system
    copy.comment = info.comment
    return copy


# -- virtual documents --------------------------------------------------------------------------


def view_uri(path: str, member: str = CONFIG) -> str:
    """``layercfg:///abs/model.keras/config.json``: the read-only document of a member."""
    absolute = Path(path).resolve().as_posix()
    return f"{SCHEME}://{quote(absolute + '/' + member, safe='/:@')}"


def parse_view_uri(uri: str) -> tuple[str, str] | None:
    """(archive path, member) of a ``layercfg:`` URI, or None for any other."""
    parts = urlsplit(uri)
    if parts.scheme != SCHEME:
        return None
    path = unquote(parts.path)
    archive, sep, member = path.rpartition("/")
    if not sep or not archive.endswith(SUFFIX) or member != CONFIG:
        return None
    return os.path.normpath(archive), member


def archive_of_uri(uri: str) -> str | None:
    """The archive path of a ``file:`` URI naming a ``.keras`` file."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    path = unquote(parts.path)
    return path if path.endswith(SUFFIX) else None


class MemberPath(str):
    """A report's path for a member of an archive: ``model.keras!config.json`` as text, the
    archive and the member apart for JSON and SARIF."""

    archive: str
    member: str

    def __new__(cls, archive: str, member: str) -> MemberPath:
        made = super().__new__(cls, f"{archive}!{member}")
        made.archive, made.member = archive, member
        return made
