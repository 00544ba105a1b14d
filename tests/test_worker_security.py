"""Configs are data, never code: the worker is tried as an attacker would.

Two layers of defence, each tested on its own:
- nothing a document names runs outside Keras's safe loader (in-process, no containment to
  hide behind: a marker file shows whether code ran);
- code that does run (a trusted custom module standing in for it) cannot reach the network,
  start processes, write outside its temp dir, signal other processes or forge answers: a
  listener on 127.0.0.1, marker files and the process table show it.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from layercfg.server.deepcheck import run_check
from layercfg.server.document import Document
from layercfg.server.settings import Settings
from layercfg.server.worker import WorkerClient

pytest.importorskip("keras")
linux = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="containment by the OS is implemented for Linux"
)


# -- nothing a document names runs ---------------------------------------------------------------
def _bytecode_writing(marker: Path) -> str:
    code = compile(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]", "<doc>", "eval")
    function = eval(code)  # noqa: S307 - the payload under test, never called here
    return base64.b64encode(marshal.dumps(function.__code__)).decode("ascii")


def _legacy_sequential(marker: Path) -> dict:
    """TensorFlow's own old Keras 2 (loaded beside Keras 3 on the TensorFlow backend) has no
    safe mode: its Lambda runs marshalled bytecode."""
    return {
        "module": "tensorflow.python.keras.engine.sequential",
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None, 1], "dtype": "float32", "name": "in"},
                },
                {
                    "class_name": "Lambda",
                    "config": {
                        "name": "l",
                        "function": [_bytecode_writing(marker), None, None],
                        "function_type": "lambda",
                        "module": "builtins",
                        "output_shape": None,
                        "output_shape_type": "raw",
                        "output_shape_module": None,
                        "arguments": {},
                    },
                },
            ],
        },
        "registered_name": None,
    }


@pytest.fixture(scope="module")
def checker():
    import tensorflow.python.keras.engine.sequential  # noqa: F401 - as in the worker

    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.keras_api import KerasAPI

    return DeepChecker(KerasAPI("keras"))


@pytest.mark.parametrize(
    "module",
    [
        "tensorflow.python.keras.engine.sequential",
        "tensorflow.python.keras.models",
        "tensorflow.python.keras.layers.core",
    ],
)
def test_a_class_of_an_unconfigured_module_is_never_loaded(checker, tmp_path, module):
    marker = tmp_path / "ran"
    document = _legacy_sequential(marker)
    document["module"] = module
    if module.endswith("core"):
        document = {**document["config"]["layers"][1], "module": module, "registered_name": None}
    result = checker.check(document)
    assert not marker.exists(), "the document's bytecode ran"
    assert result["findings"], "the document was not reported"
    assert checker._custom_class(document) is None


def test_lambda_bytecode_inside_keras_3_never_runs(checker, tmp_path):
    marker = tmp_path / "ran"
    document = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {
            "name": "s",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "registered_name": None,
                    "config": {"batch_shape": [None, 1], "name": "in"},
                },
                {
                    "module": "keras.layers",
                    "class_name": "Lambda",
                    "registered_name": None,
                    "config": {
                        "name": "l",
                        "function": {
                            "class_name": "__lambda__",
                            "config": {
                                "code": _bytecode_writing(marker),
                                "defaults": None,
                                "closure": None,
                            },
                        },
                    },
                },
            ],
        },
    }
    result = checker.check(document)
    assert not marker.exists()
    assert "LCF303" in {f["code"] for f in result["findings"]}


def test_custom_class_lint_goes_through_keras_safe_loader(fixtures_on_path, monkeypatch):
    """A configured class is loaded by Keras's loader, in safe mode, never by calling its
    from_config from layercfg's own code."""
    import inspect

    from keras.src.saving import serialization_lib

    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.keras_api import KerasAPI

    good = __import__("custom.good_layers", fromlist=["x"])
    cls = next(
        c
        for c in vars(good).values()
        if isinstance(c, type) and c.__module__ == good.__name__ and hasattr(c, "from_config")
    )
    calls = []
    original = cls.from_config.__func__

    def spy(klass, config, *args, **kwargs):
        caller = inspect.stack()[1].frame.f_globals.get("__name__")
        calls.append((serialization_lib.in_safe_mode(), caller))
        return original(klass, config, *args, **kwargs)

    monkeypatch.setattr(cls, "from_config", classmethod(spy))
    checker = DeepChecker(KerasAPI("keras"), modules=("custom.good_layers",))
    checker._defects_of(
        cls,
        {
            "module": good.__name__,
            "class_name": cls.__name__,
            "config": {},
            "registered_name": None,
        },
        (),
    )
    assert calls, "the class was never loaded"
    assert all(mode is True and caller.startswith("keras.") for mode, caller in calls), calls


def test_global_state_is_reset_before_every_check(checker):
    import keras

    keras.config.set_image_data_format("channels_first")
    keras.config.set_floatx("float16")
    conv = {
        "module": "keras.layers",
        "class_name": "Conv2D",
        "registered_name": None,
        "config": {"filters": 2, "kernel_size": 3},
        "build_config": {"input_shape": [None, 8, 8, 3]},
    }
    result = checker.check(conv)
    assert keras.config.image_data_format() == "channels_last"
    assert keras.config.floatx() == "float32"
    assert result["findings"] == []
    assert result["layers"][0]["output_shape"] == "(None, 6, 6, 2)"


@pytest.mark.parametrize("module", ["keras.config", "keras.utils", "keras.applications"])
def test_functions_beyond_modeling_are_never_given_to_keras(checker, module):
    name = {
        "keras.config": "set_floatx",
        "keras.utils": "get_file",
        "keras.applications": "ResNet50",
    }[module]
    document = {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "config": {
            "units": 2,
            "activation": {
                "module": module,
                "class_name": "function",
                "config": name,
                "registered_name": "function",
            },
        },
        "build_config": {"input_shape": [None, 2]},
    }
    result = checker.check(document)
    assert [f["code"] for f in result["findings"]] == ["LCF303"]
    assert list(result["findings"][0]["path"])[:2] == ["config", "activation"]


def test_hub_cache_under_the_shared_temp_dir_counts_only_when_private(tmp_path, monkeypatch):
    from layercfg.schema_builder import deep

    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    monkeypatch.setenv("LAYERCFG_SYSTEM_TMPDIR", str(tmp_path))
    cache = tmp_path / "tfhub_modules"
    cache.mkdir()
    cache.chmod(0o777)
    assert deep.hub_cache() == (str(cache), False)
    cache.chmod(0o700)
    assert deep.hub_cache() == (str(cache), True)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "mine"))
    assert deep.hub_cache() == (str(tmp_path / "mine"), True)


# -- code that runs stays inside --------------------------------------------------------------
@pytest.fixture
def settings(fixtures_on_path) -> Settings:
    return Settings(
        modules=("custom.breakout_layers",),
        trustWorkspace=True,
        deepCheckTimeout=60,
        deepCheckMemoryMB=2048,
    )


@pytest.fixture
async def worker(subprocess_env):
    client = WorkerClient(env=subprocess_env)
    yield client
    await client.kill()


def breakout(**attempts) -> Document:
    text = json.dumps(
        {
            "module": "custom.breakout_layers",
            "class_name": "Breakout",
            "config": {"attempts": attempts},
            "registered_name": "breakout>Breakout",
        }
    )
    return Document.parse("file:///b.layercfg.json", text, 1)


async def check(worker, settings, fixtures_on_path, **attempts):
    return await run_check(worker, breakout(**attempts), settings, str(fixtures_on_path))


def outcomes(result) -> str:
    return " ".join(d.message for d in result.diagnostics)


@linux
async def test_every_containment_mechanism_holds(worker):
    answer = await worker.request("ping", {}, timeout=60)
    assert answer["containment"]["holds"] == {
        "network": True,
        "rlimits": True,
        "writes": True,
        "processes": True,
        "capabilities": True,
        "priority": True,
    }


@linux
async def test_the_worker_runs_below_the_servers_cpu_priority(worker):
    answer = await worker.request("ping", {}, timeout=60)
    pid = answer["pid"]
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    nice = int(fields[16])  # field 19 of stat; fields[0] is field 3 (the state)
    assert nice >= 10 > os.getpriority(os.PRIO_PROCESS, 0)
    # Every thread the worker started (TensorFlow's among them) has it too.
    for thread in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{thread}/stat", encoding="ascii") as handle:
            assert int(handle.read().rsplit(")", 1)[1].split()[16]) >= 10


@linux
async def test_no_connection_below_the_socket_module(worker, settings, fixtures_on_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted = []

    def accept():
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                accepted.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        result = await check(worker, settings, fixtures_on_path, port=listener.getsockname()[1])
    finally:
        thread.join()
        listener.close()
    assert accepted == [], "the worker connected to 127.0.0.1"
    assert "raw socket: " in outcomes(result) and "raw socket: done" not in outcomes(result)


def _processes_tagged(tag: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if tag.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@linux
async def test_no_process_outlives_the_check_not_even_a_detached_one(
    worker, settings, fixtures_on_path, tmp_path
):
    tag = f"layercfg-escape-{uuid.uuid4().hex}"
    marker = tmp_path / "escaped"
    result = await check(worker, settings, fixtures_on_path, marker=str(marker), tag=tag)
    text = outcomes(result)
    for what in ("detached process", "system", "fork"):
        assert f"{what}: " in text and f"{what}: done" not in text, text
    await worker.kill()
    time.sleep(1.5)
    assert _processes_tagged(tag) == []
    assert not marker.exists()


@linux
async def test_no_writes_outside_the_private_temp_dir(worker, settings, fixtures_on_path, tmp_path):
    target = tmp_path / "written"
    result = await check(worker, settings, fixtures_on_path, write=str(target))
    assert not target.exists()
    assert "write outside: PermissionError" in outcomes(result)


@linux
async def test_no_unix_socket_file_outside_is_reached(worker, settings, fixtures_on_path, tmp_path):
    path = str(tmp_path / "listener.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(1)
    try:
        result = await check(worker, settings, fixtures_on_path, unix=path)
        with pytest.raises(OSError):
            listener.recv(100)
    finally:
        listener.close()
    assert "unix datagram: PermissionError" in outcomes(result)


@linux
async def test_no_metadata_change_outside(worker, settings, fixtures_on_path, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine", encoding="utf-8")
    victim.chmod(0o600)
    before = victim.stat()
    result = await check(worker, settings, fixtures_on_path, chmod=str(victim))
    after = victim.stat()
    assert (after.st_mode, after.st_mtime_ns) == (before.st_mode, before.st_mtime_ns)
    assert "chmod: PermissionError" in outcomes(result)
    assert "utime: PermissionError" in outcomes(result)


@linux
async def test_no_io_uring_memfd_capabilities_or_lifted_memory_cap(
    worker, settings, fixtures_on_path
):
    text = outcomes(await check(worker, settings, fixtures_on_path, kernel=True))
    assert "io_uring: OSError: [Errno 38]" in text, text  # ENOSYS
    assert "memfd: PermissionError" in text, text
    assert "capabilities: PermissionError: CapEff 0000000000000000" in text, text
    assert "lift address space: ValueError" in text, text


@linux
async def test_no_signal_to_a_process_outside_the_worker(worker, settings, fixtures_on_path):
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        result = await check(worker, settings, fixtures_on_path, signal=bystander.pid)
        time.sleep(0.2)
        assert bystander.poll() is None, "the worker killed another process"
        assert "signal: PermissionError" in outcomes(result)
    finally:
        bystander.kill()
        bystander.wait()


async def test_a_forged_answer_is_a_worker_fault_not_a_verdict(worker, settings, fixtures_on_path):
    result = await check(worker, settings, fixtures_on_path, forge=True)
    assert [d.code for d in result.diagnostics] == ["LCF304"]
    assert "not its own" in result.diagnostics[0].message
    good = Document.parse(
        "file:///g",
        json.dumps(
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": 3},
                "registered_name": None,
            }
        ),
        1,
    )
    assert (await run_check(worker, good, settings, str(fixtures_on_path))).diagnostics == []


async def test_one_document_cannot_change_the_verdict_on_the_next(
    worker, settings, fixtures_on_path
):
    first = await check(worker, settings, fixtures_on_path, global_state=True)
    assert [d.code for d in first.diagnostics if d.severity == 1] == []
    conv = Document.parse(
        "file:///c",
        json.dumps(
            {
                "module": "keras.layers",
                "class_name": "Conv2D",
                "registered_name": None,
                "config": {"filters": 2, "kernel_size": 3},
                "build_config": {"input_shape": [None, 8, 8, 3]},
            }
        ),
        1,
    )
    result = await run_check(worker, conv, settings, str(fixtures_on_path))
    assert result.diagnostics == []
    assert result.layers[0]["output_shape"] == "(None, 6, 6, 2)"


# -- import shadowing ------------------------------------------------------------------------
SHADOWS = ("json", "termcolor", "numpy", "sitecustomize", "keras")


def _shadowing_folder(folder: Path, marker: Path) -> Path:
    folder.mkdir()
    for name in SHADOWS:
        (folder / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n", encoding="utf-8"
        )
    return folder


async def test_the_worker_imports_nothing_from_the_cwd_or_pythonpath(
    subprocess_env, tmp_path, monkeypatch
):
    marker = tmp_path / "imported"
    folder = _shadowing_folder(tmp_path / "workspace", marker)
    (folder / "mine.py").write_text("VALUE = 1\n", encoding="utf-8")  # the configured one
    monkeypatch.chdir(folder)
    env = {**subprocess_env, "PYTHONPATH": str(folder), "PYTHONSTARTUP": str(folder / "json.py")}
    client = WorkerClient(env=env)
    try:
        document = Document.parse(
            "file:///d",
            json.dumps(
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {"units": 3},
                    "registered_name": None,
                }
            ),
            1,
        )
        result = await run_check(
            client, document, Settings(modules=("mine",), trustWorkspace=True), str(folder)
        )
    finally:
        await client.kill()
    assert result.diagnostics == []
    assert not marker.exists(), marker.read_text()


def test_the_cli_imports_nothing_from_the_cwd(subprocess_env, tmp_path):
    marker = tmp_path / "imported"
    folder = _shadowing_folder(tmp_path / "project", marker)
    (folder / "a.layercfg.json").write_text(
        json.dumps(
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": 3},
                "registered_name": None,
            }
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in subprocess_env.items() if k != "PYTHONPATH"}
    for argv in (["check", "a.layercfg.json"], ["new", "Dense", "units=3"]):
        for launcher in ([sys.executable, "-m", "layercfg"],):
            done = subprocess.run(
                [*launcher, *argv], cwd=folder, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stderr
    assert not marker.exists(), marker.read_text()


# -- every hostile document is reported, never silence ---------------------------------------
def _hostile_corpus(folder: Path, marker: Path) -> dict[str, dict]:
    lam = {
        "class_name": "__lambda__",
        "config": {"code": _bytecode_writing(marker), "defaults": None, "closure": None},
    }
    dense = {"module": "keras.layers", "class_name": "Dense", "registered_name": None}
    corpus = {
        "legacy_bytecode": _legacy_sequential(marker),
        "stdlib_module": {
            "module": "os",
            "class_name": "system",
            "registered_name": None,
            "config": {"command": f"touch {marker}"},
        },
        "config_setter": {
            **dense,
            "config": {
                "units": 2,
                "activation": {
                    "module": "keras.config",
                    "class_name": "function",
                    "config": "set_floatx",
                    "registered_name": "function",
                },
            },
        },
        "get_file": {
            **dense,
            "config": {
                "units": 2,
                "activation": {
                    "module": "keras.utils",
                    "class_name": "function",
                    "config": "get_file",
                    "registered_name": "function",
                },
            },
        },
        "lambda_in_compile_config": {
            "module": "keras",
            "class_name": "Sequential",
            "registered_name": None,
            "config": {"name": "s", "layers": [{**dense, "config": {"units": 2}}]},
            "compile_config": {"loss": lam, "optimizer": "adam"},
        },
        "torch_wrapper": {
            "module": "keras.layers",
            "class_name": "TorchModuleWrapper",
            "registered_name": None,
            "config": {"module": "gASVAAAAAAAAAAA="},
        },
        "path_like_name": {**dense, "config": {"units": 2, "name": "../../etc/cron.d/x"}},
    }
    for name, document in corpus.items():
        (folder / f"{name}.layercfg.json").write_text(
            json.dumps(document, indent=1), encoding="utf-8"
        )
    return corpus


def test_check_deep_reports_every_hostile_document(subprocess_env, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    marker = tmp_path / "ran"
    corpus = _hostile_corpus(folder, marker)
    done = subprocess.run(
        [sys.executable, "-m", "layercfg", "check", "--deep", "--format", "json", str(folder)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    errors = {
        Path(f["path"]).name.split(".")[0]: [
            d["code"] for d in f["diagnostics"] if d["severity"] == "error"
        ]
        for f in report["files"]
    }
    assert set(errors) == set(corpus)
    assert all(errors.values()), errors
    assert not marker.exists()


def test_canonical_form_allocates_no_weights_and_obeys_the_cap(subprocess_env):
    """A Dense of 10**10 parameters (40 GB of float32): the canonical form is computed
    without allocating it, far under the cap."""
    import asyncio

    async def run():
        client = WorkerClient(env=subprocess_env)
        try:
            document = {
                "module": "keras.layers",
                "class_name": "Dense",
                "registered_name": None,
                "config": {"units": 100_000},
                "build_config": {"input_shape": [None, 100_000]},
            }
            answer = await client.request(
                "canonical",
                {"value": document, "mode": "fill", "memory_mb": 800},
                timeout=120,
                memory_mb=800,
            )
            return answer
        finally:
            await client.kill()

    answer = asyncio.run(run())
    assert answer["value"]["config"]["units"] == 100_000
    assert answer["value"]["config"]["use_bias"] is True


def test_cli_limits_have_bounds(tmp_path):
    (tmp_path / "a.layercfg.json").write_text("{}", encoding="utf-8")
    for option in (["--timeout", "100000"], ["--memory-mb", "999999"]):
        done = subprocess.run(
            [sys.executable, "-m", "layercfg", "check", *option, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 2 and "must be" in done.stderr, done.stderr


def _lambda_calling(module: str, name: str) -> dict:
    """A Lambda whose function is a class envelope naming a function, called eagerly on a
    value the document wrote (a node whose input is a keyword)."""
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "registered_name": None,
        "config": {
            "name": "m",
            "trainable": True,
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "registered_name": None,
                    "name": "in",
                    "config": {"batch_shape": [None, 2], "name": "in"},
                    "inbound_nodes": [],
                },
                {
                    "module": "keras.layers",
                    "class_name": "Lambda",
                    "registered_name": None,
                    "name": "lam",
                    "config": {
                        "name": "lam",
                        "arguments": {},
                        "function": {
                            "module": module,
                            "class_name": name,
                            "config": {},
                            "registered_name": None,
                        },
                    },
                    "inbound_nodes": [{"args": [], "kwargs": {"inputs": "mnist.npz"}}],
                },
            ],
            "input_layers": [["in", 0, 0]],
            "output_layers": [["lam", 0, 0]],
        },
    }


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("keras.datasets.mnist", "load_data"),
        ("keras.config", "set_backend"),
        ("keras.utils", "get_file"),
        ("keras.models", "clone_model"),
    ],
)
def test_a_class_envelope_naming_a_function_is_never_loaded(checker, module, name):
    result = checker.check(_lambda_calling(module, name))
    (finding,) = [f for f in result["findings"] if f["code"] == "LCF303"]
    assert list(finding["path"]) == ["config", "layers", 1, "config", "function", "class_name"]
    assert checker.unsafe_parts(_lambda_calling(module, name))


def test_the_canonical_form_refuses_what_the_deep_check_refuses(subprocess_env):
    import asyncio

    from layercfg.server.worker import WorkerError

    async def run():
        client = WorkerClient(env=subprocess_env)
        try:
            await client.request(
                "canonical",
                {"value": _lambda_calling("keras.datasets.mnist", "load_data"), "mode": "fill"},
                timeout=120,
            )
        finally:
            await client.kill()

    with pytest.raises(WorkerError, match="not loaded by the deep check"):
        asyncio.run(run())


def test_the_server_stores_a_worker_catalog_only_under_its_own_key(tmp_path):
    """Code in a trusted workspace's worker must not put its catalog where an untrusted
    workspace will look for its own, nor anywhere outside the cache folder."""
    from layercfg.schema_builder import cachekey
    from layercfg.server.catalog import store
    from layercfg.server.server import create_server

    catalogs = create_server().core.catalogs

    def expected(filename: str) -> bool:
        built = {"filename": filename, "cacheable": True, "imported": {}}
        return catalogs.storable(catalogs.main, built)  # type: ignore[arg-type]

    key = cachekey.compute(())
    assert expected(key.filename)
    fixtures = Path(__file__).parent / "fixtures"
    other = cachekey.compute(("custom.breakout_layers",), search_path=[str(fixtures)])
    assert not expected(other.filename)
    for name in ("../catalog-x.json", "catalog-x.json/../../y", ".bashrc", "catalog-\n.json"):
        assert store(tmp_path / "cache", name, {"x": 1}) is None
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@linux
async def test_no_limits_changed_on_other_processes_no_host_shared_memory_no_namespaces(
    worker, settings, fixtures_on_path
):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    key = 0x4C43_4600 + os.getpid() % 0xFF
    segment = libc.shmget(ctypes.c_int(key), ctypes.c_size_t(4096), ctypes.c_int(0o1600))
    assert segment >= 0, os.strerror(ctypes.get_errno())
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        before = open(f"/proc/{bystander.pid}/limits").read()
        text = outcomes(
            await check(worker, settings, fixtures_on_path, limit_of=bystander.pid, shm_key=key)
        )
        assert open(f"/proc/{bystander.pid}/limits").read() == before
    finally:
        bystander.kill()
        bystander.wait()
        libc.shmctl(ctypes.c_int(segment), ctypes.c_int(0), None)  # IPC_RMID
    assert "prlimit: PermissionError" in text, text
    assert "shared memory: FileNotFoundError" in text, text  # the host's segments: not there
    assert "unshare: PermissionError" in text, text


async def test_a_worker_that_imported_trusted_modules_answers_nothing_else(
    worker, settings, fixtures_on_path
):
    from layercfg.server.worker import WorkerError

    await check(worker, settings, fixtures_on_path, global_state=True)
    untrusted = {
        "value": {
            "module": "keras.layers",
            "class_name": "Dense",
            "config": {"units": 2},
            "registered_name": None,
        },
        "trusted": False,
        "modules": [],
        "workspace": str(fixtures_on_path),
    }
    with pytest.raises(WorkerError) as caught:
        await worker.request("deep_check", untrusted, timeout=60)
    assert caught.value.kind == "scope"


def test_the_server_starts_a_fresh_worker_when_trust_or_modules_change():
    import asyncio

    from layercfg.server.server import create_server

    async def run():
        core = create_server().core
        core.session.settings = Settings(modules=("custom.good_layers",), trustWorkspace=True)
        first = core.worker()
        assert core.worker() is first
        core.session.settings = Settings(modules=("custom.good_layers",), trustWorkspace=False)
        second = core.worker()
        await asyncio.sleep(0)
        assert second is not first and first.stopped
        assert core.worker(fresh=True) is not second

    asyncio.run(run())
