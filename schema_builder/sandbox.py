"""Containment of the Keras worker by the operating system, applied once at its start, while it
is still one thread and before it imports anything a document can reach.

On Linux, without root:
- user, network, IPC and UTS namespaces of its own (root included): only a loopback device
  that is down, so nothing can connect anywhere, whatever Python or C code tries
  (``_socket`` included), and no shared memory of other processes; then every capability
  dropped, bounding set included;
- a seccomp filter: no ``execve``, no ``fork``/``vfork``, no ``clone`` other than a thread,
  no ``socket`` at all (socket pairs have their own call), no ``connect``, no io_uring, no
  ``ptrace``, no memfd, no changes to files' metadata (chmod, chown, times, xattrs), no
  terminal ioctls that type into another terminal, no new namespaces or chroot, and no
  rlimit or scheduling change on any process but itself;
- Landlock: writes only inside the worker's private temp dir, no TCP bind or connect, no
  signals to processes outside the worker, no abstract Unix sockets;
- rlimits: no core files, a cap on the size of any file written, and an address-space cap
  around each check (``cap_address_space``).

Each mechanism reports whether it holds; ``Containment.summary`` says which do. Elsewhere
(macOS, Windows) none of them applies, and the worker relies on Keras's safe mode alone.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct
import sys
from dataclasses import dataclass, field

# Bytes a file the worker writes may reach (the catalog is a few MB).
MAX_FILE_BYTES = 512 * 2**20


@dataclass
class Containment:
    """What holds in this process, mechanism by mechanism, and why not where it does not."""

    holds: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def note(self, name: str, ok: bool, reason: str = "") -> None:
        self.holds[name] = ok
        if reason:
            self.reasons[name] = reason

    def summary(self) -> dict[str, object]:
        return {"holds": dict(self.holds), "reasons": dict(self.reasons)}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


# -- network namespace ---------------------------------------------------------------------------
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWIPC = 0x08000000  # System V shared memory and queues, POSIX queues
_CLONE_NEWUTS = 0x04000000


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def isolate_network(libc: ctypes.CDLL) -> tuple[bool, str]:
    """User, network, IPC and UTS namespaces of our own, root included: a root worker that
    only left the network namespace would keep every capability of the host, and one in
    the host's IPC namespace could read other processes' shared memory."""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS) != 0:
        return False, f"unshare: {os.strerror(ctypes.get_errno())}"
    try:  # keep our own uid and gid inside, so that files stay ours
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        return True, f"uid map not written: {exc}"
    return True, ""


_PR_CAPBSET_DROP = 24
_LAST_CAP = 63
_CAP_VERSION_3 = 0x20080522


def drop_capabilities(libc: ctypes.CDLL) -> tuple[bool, str]:
    """No capability at all, not even in the worker's own user namespace, and none to regain."""
    for cap in range(_LAST_CAP + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last: fine
    header = struct.pack("Ii", _CAP_VERSION_3, 0)
    data = bytes(24)  # two sets of (effective, permitted, inheritable), all empty
    if libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
        return False, f"capset: {os.strerror(ctypes.get_errno())}"
    return True, ""


# -- seccomp ---------------------------------------------------------------------------------------
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_RET_KILL_PROCESS = 0x80000000
_CLONE_THREAD = 0x00010000

# BPF opcodes.
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# (audit arch, syscall numbers) per machine; syscalls a platform lacks are None.
_ARCHES = {
    "x86_64": (
        0xC000003E,
        {
            "execve": 59,
            "execveat": 322,
            "fork": 57,
            "vfork": 58,
            "clone": 56,
            "clone3": 435,
            "socket": 41,
            "connect": 42,
            "ptrace": 101,
            "process_vm_writev": 311,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "memfd_create": 319,
            "memfd_secret": 447,
            "ioctl": 16,
            "chmod": 90,
            "fchmod": 91,
            "fchmodat": 268,
            "fchmodat2": 452,
            "chown": 92,
            "fchown": 93,
            "lchown": 94,
            "fchownat": 260,
            "utime": 132,
            "utimes": 235,
            "utimensat": 280,
            "futimesat": 261,
            "setxattr": 188,
            "lsetxattr": 189,
            "fsetxattr": 190,
            "removexattr": 197,
            "lremovexattr": 198,
            "fremovexattr": 199,
            "setxattrat": 463,
            "removexattrat": 466,
            "userfaultfd": 323,
            "perf_event_open": 298,
            "bpf": 321,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "unshare": 272,
            "setns": 308,
            "chroot": 161,
            "prlimit64": 302,
            "setpriority": 141,
            "sched_setaffinity": 203,
            "sched_setscheduler": 144,
            "sched_setparam": 142,
            "sched_setattr": 314,
            "ioprio_set": 251,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "execve": 221,
            "execveat": 281,
            "fork": None,
            "vfork": None,
            "clone": 220,
            "clone3": 435,
            "socket": 198,
            "connect": 203,
            "ptrace": 117,
            "process_vm_writev": 271,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "memfd_create": 279,
            "memfd_secret": 447,
            "ioctl": 29,
            "chmod": None,
            "fchmod": 52,
            "fchmodat": 53,
            "fchmodat2": 452,
            "chown": None,
            "fchown": 55,
            "lchown": None,
            "fchownat": 54,
            "utime": None,
            "utimes": None,
            "utimensat": 88,
            "futimesat": None,
            "setxattr": 5,
            "lsetxattr": 6,
            "fsetxattr": 7,
            "removexattr": 14,
            "lremovexattr": 15,
            "fremovexattr": 16,
            "setxattrat": 463,
            "removexattrat": 466,
            "userfaultfd": 282,
            "perf_event_open": 241,
            "bpf": 280,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "unshare": 97,
            "setns": 268,
            "chroot": 51,
            "prlimit64": 261,
            "setpriority": 140,
            "sched_setaffinity": 122,
            "sched_setscheduler": 119,
            "sched_setparam": 118,
            "sched_setattr": 274,
            "ioprio_set": 30,
        },
    ),
}
# Refused outright: new programs and processes, other processes' memory, sockets of any
# family (io_uring would reach them past the filter, sendto to a Unix socket file without a
# connect), memory the resident-set cap does not see, and changes to files' metadata, which
# Landlock does not cover.
_REFUSED = (
    "execve",
    "execveat",
    "fork",
    "vfork",
    "ptrace",
    "process_vm_writev",
    "connect",
    "socket",
    "memfd_create",
    "memfd_secret",
    "userfaultfd",
    "perf_event_open",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "setxattrat",
    "removexattrat",
    "unshare",
    "setns",
    "chroot",
)
# Allowed on the worker itself only (the argument that names the process is 0): on another
# process of the same user they would change its limits (and so kill it) or its scheduling.
_SELF_ONLY = {
    "prlimit64": 0,
    "sched_setaffinity": 0,
    "sched_setscheduler": 0,
    "sched_setparam": 0,
    "sched_setattr": 0,
    "setpriority": 1,
    "ioprio_set": 1,
}
_UNAVAILABLE = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")
# Terminal ioctls that type into another terminal.
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
_X32_BIT = 0x40000000


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_program(machine: str) -> bytes:
    """The filter, as BPF: refuse new programs, new processes and network sockets."""
    arch, numbers = _ARCHES[machine]
    deny = _SECCOMP_RET_ERRNO | errno.EPERM
    nosys = _SECCOMP_RET_ERRNO | errno.ENOSYS
    body: list[bytes] = []

    def refuse(name: str, answer: int = deny) -> None:
        number = numbers.get(name)
        if number is None:
            return
        body.append(_insn(_JEQ_K, 0, 1, number))
        body.append(_insn(_RET_K, 0, 0, answer))

    for name in _REFUSED:
        refuse(name)
    # clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes the C
    # library fall back to clone, whose flags it can. io_uring would carry out, on its own
    # threads, system calls this filter never sees.
    for name in _UNAVAILABLE:
        refuse(name, nosys)
    for name, argument in _SELF_ONLY.items():
        number = numbers.get(name)
        if number is None:
            continue
        body.append(_insn(_JEQ_K, 0, 4, number))
        body.append(_insn(_LD_W_ABS, 0, 0, 16 + 8 * argument))
        body.append(_insn(_JEQ_K, 1, 0, 0))
        body.append(_insn(_RET_K, 0, 0, deny))
        body.append(_insn(_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    # ioctl: nothing that types into a terminal.
    body.append(_insn(_JEQ_K, 0, 5, numbers["ioctl"]))
    body.append(_insn(_LD_W_ABS, 0, 0, 24))  # args[1], low 32 bits: the request
    body.append(_insn(_JEQ_K, 2, 0, _TIOCSTI))
    body.append(_insn(_JEQ_K, 1, 0, _TIOCLINUX))
    body.append(_insn(_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    body.append(_insn(_RET_K, 0, 0, deny))
    # clone: a thread (CLONE_THREAD set) is allowed, anything else is a new process.
    body.append(_insn(_JEQ_K, 0, 4, numbers["clone"]))
    body.append(_insn(_LD_W_ABS, 0, 0, 16))  # args[0], low 32 bits: the flags
    body.append(_insn(_JSET_K, 1, 0, _CLONE_THREAD))
    body.append(_insn(_RET_K, 0, 0, deny))
    body.append(_insn(_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    body.append(_insn(_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    head = [
        _insn(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, arch),
        _insn(_RET_K, 0, 0, _SECCOMP_RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":  # the x32 ABI numbers every syscall differently: refuse it
        head += [_insn(_JGE_K, 0, 1, _X32_BIT), _insn(_RET_K, 0, 0, deny)]
    # After the ioctl and clone blocks the accumulator holds an argument, not the number:
    # each block ends in a return, so nothing after them reads it as one.
    return b"".join(head + body)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp(libc: ctypes.CDLL) -> tuple[bool, str]:
    machine = platform.machine()
    if machine not in _ARCHES:
        return False, f"no filter for {machine}"
    program = seccomp_program(machine)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False, f"no_new_privs: {os.strerror(ctypes.get_errno())}"
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return False, f"seccomp: {os.strerror(ctypes.get_errno())}"
    return True, ""


# -- Landlock --------------------------------------------------------------------------------------
_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS = {
    name: 1 << bit
    for bit, name in enumerate(
        (
            "execute",
            "write_file",
            "read_file",
            "read_dir",
            "remove_dir",
            "remove_file",
            "make_char",
            "make_dir",
            "make_reg",
            "make_sock",
            "make_fifo",
            "make_block",
            "make_sym",
            "refer",
            "truncate",
            "ioctl_dev",
        )
    )
}
_WRITES_V1 = (
    "write_file",
    "remove_dir",
    "remove_file",
    "make_char",
    "make_dir",
    "make_reg",
    "make_sock",
    "make_fifo",
    "make_block",
    "make_sym",
)
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


def _long(value: int) -> ctypes.c_long:
    # syscall(2) is variadic: every argument must be a full machine word.
    return ctypes.c_long(value)


def _writes(abi: int) -> int:
    names = list(_WRITES_V1)
    if abi >= 2:
        names.append("refer")
    if abi >= 3:
        names.append("truncate")
    return sum(_FS[name] for name in names)


def restrict_writes(libc: ctypes.CDLL, writable: list[str]) -> tuple[bool, str]:
    """Writes only below ``writable`` (and to /dev/null); with ABI 4+, no TCP; with 6+, no
    signals out of the worker and no abstract Unix sockets."""
    machine = platform.machine()
    if machine not in _SYS_LANDLOCK:
        return False, f"no Landlock numbers for {machine}"
    create, add_rule, restrict = _SYS_LANDLOCK[machine]
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_long(create), None, _long(0), _long(_LANDLOCK_CREATE_RULESET_VERSION))
    if abi < 1:
        return False, f"Landlock unavailable: {os.strerror(ctypes.get_errno())}"
    handled = _writes(abi)
    fields = [handled]
    if abi >= 4:
        fields.append(_NET_BIND_TCP | _NET_CONNECT_TCP)
    if abi >= 6:
        fields.append(_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL)
    attr = struct.pack(f"{len(fields)}Q", *fields)
    ruleset = libc.syscall(_long(create), ctypes.c_char_p(attr), _long(len(attr)), _long(0))
    if ruleset < 0:
        return False, f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}"
    try:
        for path in [*writable, "/dev/null"]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rights = (
                    handled
                    if os.path.isdir(path)
                    else _FS["write_file"] | (_FS["truncate"] if abi >= 3 else 0)
                )
                rule = struct.pack("=Qi", rights, fd)
                if (
                    libc.syscall(
                        _long(add_rule),
                        _long(ruleset),
                        _long(_LANDLOCK_RULE_PATH_BENEATH),
                        ctypes.c_char_p(rule),
                        _long(0),
                    )
                    != 0
                ):
                    return False, f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}"
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False, f"no_new_privs: {os.strerror(ctypes.get_errno())}"
        if libc.syscall(_long(restrict), _long(ruleset), _long(0)) != 0:
            return False, f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return True, f"ABI {abi}"


# -- rlimits -------------------------------------------------------------------------------------
def limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))


def address_space_bytes() -> int:
    """The process's virtual size now."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


class cap_address_space:  # noqa: N801 - used as a context manager, like a function
    """For one check: the address space may grow by ``extra`` bytes beyond its size now; a
    bigger allocation fails with MemoryError inside Keras instead of taking the machine's
    memory. (Virtual, not resident: the resident cap is the client's, which polls.)

    The hard limit is set too, at the first check, so that code in the check cannot lift
    the soft one; it can never be raised again. ``roomy`` is False once a check no longer
    fits under it: the worker then ends after its answer and a fresh one takes over."""

    SLACK = 2**30

    def __init__(self, extra: int):
        self.extra = extra
        self.roomy = True

    def __enter__(self) -> cap_address_space:
        # Only in a contained worker: the limits are for the process's whole life, and a
        # process that only runs a check in passing (a test) would pass them on to every
        # program it starts afterwards.
        if not _contained or not sys.platform.startswith("linux"):
            return self
        size = address_space_bytes()
        if not size:
            return self
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = size + self.extra
        if hard == resource.RLIM_INFINITY:
            hard = wanted + self.SLACK
        elif wanted > hard:
            self.roomy = False
        resource.setrlimit(resource.RLIMIT_AS, (min(wanted, hard), hard))
        return self

    def __exit__(self, *exc: object) -> None:
        if not _contained or not sys.platform.startswith("linux"):
            return
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


# -- CPU priority --------------------------------------------------------------------------------
# The worker's checks must not slow typing: the server (and the editor) keep the CPU first.
# Nice 10 leaves the worker about a tenth of a contended core; it cannot be lowered again
# (that needs CAP_SYS_NICE, which is dropped).
WORKER_NICE = 10


def lower_priority() -> tuple[bool, str]:
    if not hasattr(os, "setpriority"):
        return False, f"not available on {sys.platform}"
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < WORKER_NICE:
            os.setpriority(os.PRIO_PROCESS, 0, WORKER_NICE)
    except OSError as exc:
        return False, f"setpriority: {exc}"
    return True, f"nice {os.getpriority(os.PRIO_PROCESS, 0)}"


# -- all of it -----------------------------------------------------------------------------------
_contained = False  # set by contain(): this process is a worker for good


def contain(writable: list[str]) -> Containment:
    """Apply every mechanism this platform has. Call before any thread starts."""
    global _contained
    _contained = True
    result = Containment()
    # Before any thread starts, so that every thread the worker makes has it too.
    result.note("priority", *lower_priority())
    if not sys.platform.startswith("linux"):
        for name in ("network", "processes", "writes", "rlimits", "capabilities"):
            result.note(name, False, f"not available on {sys.platform}")
        return result
    libc = _libc()
    result.note("network", *isolate_network(libc))
    try:
        limit_files()
        result.note("rlimits", True)
    except (OSError, ValueError) as exc:
        result.note("rlimits", False, str(exc))
    # Landlock before seccomp: it needs no syscall the filter refuses, but keep the order
    # that works whatever the filter holds.
    result.note("writes", *restrict_writes(libc, writable))
    # Last: Landlock and the uid map needed what the namespace gave; nothing needs it now.
    result.note("capabilities", *drop_capabilities(libc))
    result.note("processes", *install_seccomp(libc))
    return result
