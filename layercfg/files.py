"""The files a command reads and writes, handled so that a hostile tree cannot hang it (FIFOs,
devices), exhaust its memory (huge files), or make it read or write outside the tree through a
symbolic link; and the unified diffs it shows instead of writing."""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from pathlib import Path

EXIT_USAGE = 2  # bad arguments, or a file that could not be read or written


class UsageError(Exception):
    """Bad arguments: one line on stderr and exit code 2."""


DEFAULT_MAX_SIZE_MB = 64


class FileError(Exception):
    """A file that cannot be read or written safely: one line on stderr; the other files are
    still processed, and the command exits with code 2."""


def max_size(value: str) -> float:
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = 0.0
    if not megabytes > 0 or megabytes == float("inf"):
        raise argparse.ArgumentTypeError(f"expects a positive number of MB, got {value!r}")
    return megabytes


def _size(n: int) -> str:
    if n < 1 << 20:
        return f"{n} bytes"
    return f"{n / (1 << 20):.1f}".removesuffix(".0") + " MB"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


class Files:
    """The regular files a command works on, found, read and written so that a hostile tree
    cannot hang it (FIFOs, devices), exhaust its memory (huge files), or make it read or
    write outside the tree through a symbolic link. What is skipped while walking a
    directory is a note on stderr; a file that cannot be read or written is an error line
    on stderr, the other files are still processed, and ``exit_code`` becomes 2."""

    def __init__(self, paths: list[str], max_size_mb: float) -> None:
        self.max_bytes = int(max_size_mb * (1 << 20))
        self.failed = False
        # What each file was when it was read, so that a write can tell it is the same file.
        self._read_as: dict[str, os.stat_result] = {}
        self._links: set[str] = set()  # paths that are allowed to be read through a link
        self.paths = regular_files(paths, self._links)

    def exit_code(self, code: int) -> int:
        return EXIT_USAGE if self.failed else code

    def error(self, message: str) -> None:
        print(f"layercfg: error: {message}", file=sys.stderr)
        self.failed = True

    def read(self, path: str):
        """The parsed file, or None after an error line."""
        try:
            document, opened = read_document(path, self.max_bytes, path in self._links)
        except FileError as exc:
            self.error(str(exc))
            return None
        self._read_as[path] = opened
        return document

    def write(self, path: str, text: str) -> bool:
        """Replace the file read as ``path`` with ``text``; False after an error line."""
        try:
            write_file(path, text, self._read_as[path])
        except FileError as exc:
            self.error(str(exc))
            return False
        return True


def read_document(path: str, max_bytes: int, follow: bool = True):
    """The parsed file and its ``fstat``; bytes that are not UTF-8 survive as surrogates, so
    nothing is lost. Only a regular file is read, and at most ``max_bytes`` of it."""
    from layercfg.server.document import Document

    # O_NONBLOCK: a FIFO put in place after the walk looked cannot block the open; what was
    # opened is checked with fstat before a byte is read.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and os.path.islink(path):
            raise FileError(f"{path}: not read: it became a symbolic link") from None
        raise FileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise FileError(f"{path}: not read: {_kind(opened.st_mode)}, not a regular file")
        # Bounded even when the size says otherwise: a file can grow, /proc files say 0.
        data = bytearray()
        while opened.st_size <= max_bytes and len(data) <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - len(data)))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if opened.st_size > max_bytes or len(data) > max_bytes:
        size = f"{_size(opened.st_size)}, " if opened.st_size > max_bytes else ""
        raise FileError(
            f"{path}: not read: {size}larger than the size cap of {_size(max_bytes)} (--max-size)"
        )
    if data.startswith(HDF5_SIGNATURE):
        raise FileError(
            f"{path}: not read: an HDF5 file (the legacy .h5 model format), not a JSON "
            "config: layercfg checks configs and .keras archives (save the model as .keras, "
            "or check what its to_json() writes)"
        )
    text = data.decode("utf-8", errors="surrogateescape")
    return Document.parse(Path(path).resolve().as_uri(), text), opened


# The first bytes of an HDF5 file (Keras's legacy .h5 models and weights).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def regular_files(paths: list[str], links: set[str] | None = None) -> list[str]:
    """The regular files named, and the ``*.layercfg.json`` regular files under the
    directories named. A walk does not enter symbolic links to directories and skips, with
    a note, files that are not regular and file links that leave the directory named;
    ``links`` receives the paths that are links and may be read through them."""
    links = set() if links is None else links
    found: list[str] = []
    for path in paths:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise UsageError(f"no such file or directory: {path}") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        if stat.S_ISDIR(mode):
            found += walk(path, links)
        elif stat.S_ISREG(mode):
            if os.path.islink(path):
                links.add(path)
            found.append(path)
        else:
            raise UsageError(f"{path} is {_kind(mode)}, not a regular file or directory")
    return found


def walk(top: str, links: set[str], wanted=None) -> list[str]:
    """The files under ``top`` whose names ``wanted`` accepts (``*.layercfg.json``)."""
    wanted = wanted or (lambda name: name.endswith(".layercfg.json"))
    real_top = os.path.realpath(top)
    found: list[str] = []

    def skip(path: str, reason: str) -> None:
        print(f"layercfg: note: {path}: skipped: {reason}", file=sys.stderr)

    def outside(path: str, what: str) -> str | None:
        """Why a link is skipped, or None for a link that stays in the tree."""
        try:
            target = os.path.realpath(path, strict=True)
        except OSError as exc:
            return f"symbolic link that does not resolve ({exc.strerror})"
        if not _inside(target, real_top):
            return f"symbolic link to {what} {target}, outside {top}"
        return None

    def unlisted(exc: OSError) -> None:
        skip(exc.filename or top, f"cannot list it: {exc.strerror}")

    for root, dirs, names in os.walk(top, onerror=unlisted):
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            if os.path.islink(path):
                # Not entered: inside the tree its files are found at their own path.
                reason = outside(path, "a directory")
                if reason:
                    skip(path, reason)
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            if not wanted(name):
                continue
            path = os.path.join(root, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError as exc:
                skip(path, exc.strerror or str(exc))
                continue
            if stat.S_ISLNK(mode):
                reason = outside(path, "a file")
                if reason is None:
                    try:
                        mode = os.stat(path).st_mode
                    except OSError as exc:
                        skip(path, exc.strerror or str(exc))
                        continue
                    if stat.S_ISREG(mode):
                        links.add(path)
                        found.append(path)
                        continue
                    reason = f"symbolic link to {_kind(mode)}, not a regular file"
                skip(path, reason)
            elif stat.S_ISREG(mode):
                found.append(path)
            else:
                skip(path, f"{_kind(mode)}, not a regular file")
    return found


def unified_diff(path: str, old: str, new: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(line if line.endswith(("\n", "\r")) else line + "\n" for line in lines)


def write_file(path: str, text: str, read_as: os.stat_result) -> None:
    """Replace the file with ``text``, never through a symbolic link and never over a file
    that changed since it was read as ``read_as``: the text goes to a temporary file in the
    same directory that then takes the file's place, so an interrupted write loses nothing."""
    try:
        now = os.lstat(path)
    except OSError as exc:
        raise FileError(f"cannot write {path}: {exc.strerror}") from None
    if stat.S_ISLNK(now.st_mode):
        raise FileError(
            f"{path}: not written: it is a symbolic link, and layercfg never "
            f"writes through one; run it on {os.path.realpath(path)}"
        )
    if not stat.S_ISREG(now.st_mode):
        raise FileError(f"{path}: not written: {_kind(now.st_mode)}, not a regular file")
    if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (
        read_as.st_dev,
        read_as.st_ino,
        read_as.st_size,
        read_as.st_mtime_ns,
    ):
        raise FileError(f"{path}: not written: it changed after it was read")
    if not os.access(path, os.W_OK):
        raise FileError(f"cannot write {path}: permission denied")
    import tempfile

    directory, name = os.path.split(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    except OSError as exc:
        raise FileError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8", errors="surrogateescape"))
            handle.flush()
            os.chmod(fd if os.chmod in os.supports_fd else temporary, stat.S_IMODE(now.st_mode))
            ours = os.fstat(fd)
            if hasattr(os, "fchown") and (ours.st_uid, ours.st_gid) != (now.st_uid, now.st_gid):
                # Only root can give a file away; without that the text is still the same.
                with contextlib.suppress(OSError):
                    os.fchown(fd, now.st_uid, now.st_gid)
            os.fsync(fd)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise FileError(f"cannot write {path}: {exc.strerror}") from None
        raise
