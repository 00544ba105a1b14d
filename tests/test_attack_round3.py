"""Hostile inputs against the archive reader, the incremental deep check and the worker's idle
exit: each test is a way in that was open, and stays closed."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import struct
import sys
import zipfile

import pytest

from layercfg.server import archives, worker
from layercfg.server.features import archives as archive_feature


def _keras_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    return buffer.getvalue()


CONFIG = json.dumps({"class_name": "Dense", "config": {"units": 2}}).encode()


# -- archives -----------------------------------------------------------------------------------


def test_a_central_directory_longer_than_its_declared_count_is_refused_before_it_is_parsed(
    tmp_path,
):
    # 20,000 entries under an end record that declares 3: zipfile would parse every entry (a
    # directory of millions takes gigabytes) before the member cap is looked at.
    members = {"config.json": CONFIG, "metadata.json": b"{}"}
    members.update({f"a/{i}": b"" for i in range(20_000)})
    data = bytearray(_keras_zip(members))
    at = data.rfind(b"PK\x05\x06")
    data[at + 8 : at + 12] = struct.pack("<HH", 3, 3)
    path = tmp_path / "lying.keras"
    path.write_bytes(bytes(data))
    with pytest.raises(archives.ArchiveError, match="central directory of"):
        archives.read(str(path))


def test_an_honest_archive_still_reads(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(_keras_zip({"config.json": CONFIG, "model.weights.h5": b"\0" * 100}))
    assert json.loads(archives.read(str(path)).raw) == json.loads(CONFIG)


@pytest.mark.parametrize(
    "uri",
    [
        "layercfg:///etc/passwd/config.json",
        "layercfg:///etc/passwd.keras/config.json",
        "layercfg:///x.keras/../../etc/passwd/config.json",
        "layercfg:///tmp/x.keras/metadata.json",
    ],
)
def test_a_layercfg_uri_reads_nothing_but_a_keras_archive(uri):
    try:
        answer = archive_feature.archive_content(uri)
    except archives.ArchiveError as exc:
        assert "root:" not in str(exc)
    else:
        assert answer is None


def test_a_symlink_or_fifo_named_keras_is_not_read(tmp_path):
    link = tmp_path / "passwd.keras"
    link.symlink_to("/etc/passwd")
    for uri in (archives.view_uri(str(link)), f"layercfg://{link}/config.json"):
        try:
            answer = archive_feature.archive_content(uri)
        except archives.ArchiveError as exc:
            assert "root:" not in str(exc)
        else:
            assert answer is None
    fifo = tmp_path / "fifo.keras"
    os.mkfifo(fifo)
    with pytest.raises(archives.ArchiveError, match="not a regular file"):
        archives.read(str(fifo))


# -- the worker's idle exit ---------------------------------------------------------------------


async def test_a_request_is_busy_while_it_is_encoded(monkeypatch):
    # A large document's encoding (seconds) and the worker's start come before the request is
    # pending: the idle exit, which asks ``busy``, stopped the worker then and the check failed.
    started = asyncio.Event()

    def slow(*args):
        import time

        started.set()
        time.sleep(0.3)
        raise RuntimeError("encoded no further")

    monkeypatch.setattr(worker, "encode_request", slow)
    client = worker.WorkerClient(sys.executable)
    task = asyncio.ensure_future(client.request("check", {}))
    await started.wait()
    assert client.busy, "the idle exit may stop a worker whose request is being encoded"
    with pytest.raises(RuntimeError):
        await task
    assert not client.busy


async def test_the_idle_exit_waits_for_a_request_being_encoded(monkeypatch):
    started = asyncio.Event()

    def slow(*args):
        import time

        started.set()
        time.sleep(0.3)
        raise RuntimeError("encoded no further")

    monkeypatch.setattr(worker, "encode_request", slow)
    pool = worker.WorkerPool()
    pool.idle_seconds = 0.05
    client = pool.get(sys.executable, False, (), None)
    task = asyncio.ensure_future(client.request("check", {}))
    await started.wait()
    await asyncio.sleep(0.15)
    assert pool.worker is client and not client.stopped
    with pytest.raises(RuntimeError):
        await task
    await pool.stop()


# -- the incremental deep check -----------------------------------------------------------------


@pytest.fixture(scope="module")
def deep():
    keras = pytest.importorskip("keras")
    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.deep_replay import ReplayMemo
    from layercfg.schema_builder.keras_api import KerasAPI

    api = KerasAPI()
    a = keras.Input((4,), name="a")
    out = keras.layers.Dense(2, name="d")(a)
    model = keras.Model(a, out, name="m")
    document = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    memo = ReplayMemo()
    for _ in range(2):  # the graph is known: the next checks of it are replayed
        assert DeepChecker(api, memo=memo).check(copy.deepcopy(document))["findings"] == []
    return keras, lambda value: DeepChecker(api, memo=memo).check(value), document


def _keras_rejects(keras, value) -> bool:
    try:
        keras.saving.deserialize_keras_object(copy.deepcopy(value), safe_mode=True)
    except Exception:
        return True
    return False


@pytest.mark.parametrize(
    "history",
    [["a", [0], 0], [["a"], 0, 0], [{"a": 1}, 0, 0], ["a", 0, [0]], ["a", None, 0]],
)
def test_a_keras_history_of_the_wrong_types_gets_a_verdict_not_a_crash(deep, history):
    keras, check, document = deep
    value = copy.deepcopy(document)
    node = value["config"]["layers"][1]["inbound_nodes"][0]["args"][0]
    node["config"]["keras_history"] = history
    assert _keras_rejects(keras, value)
    result = check(value)  # raised TypeError (unhashable) out of the replay
    assert result["findings"], "a document Keras rejects got a clean verdict"


def test_node_arguments_nested_deeper_than_the_replay_goes_fall_to_the_full_check(deep):
    keras, check, document = deep
    value = copy.deepcopy(document)
    nested: object = 1
    for _ in range(2_500):  # json reads it; the replay's recursive walk did not
        nested = [nested]
    value["config"]["layers"][1]["inbound_nodes"][0]["kwargs"]["junk"] = nested
    value = json.loads(json.dumps(value))
    assert _keras_rejects(keras, value)
    result = check(value)  # raised RecursionError out of the replay
    assert result["findings"]


def _overlapping_zip(levels: int, payload: bytes) -> bytes:
    """config.json, then ``levels`` stored members, each one's data the next one's local
    header and data: every entry is valid, and writing them copies the payload ``levels``
    times (zipfile before 3.11.8 does not notice entries that overlap)."""
    import zlib

    def local(name: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(data)
        head = struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            0,
            0,
            0,
            0x21,
            crc,
            len(data),
            len(data),
            len(name),
            0,
        )
        return head + name + data

    names = [b"config.json"] + [f"w/{i}".encode() for i in range(levels)]
    data = {levels - 1: payload}
    blobs = {}
    for i in range(levels - 1, -1, -1):
        blobs[i] = local(names[i + 1], data[i])
        if i:
            data[i - 1] = blobs[i]
    first = local(names[0], CONFIG)
    body = first + blobs[0]
    entries, offset = [], len(first)
    central = [(names[0], CONFIG, 0)]
    for i in range(levels):
        central.append((names[i + 1], data[i], offset))
        offset += 30 + len(names[i + 1])
    for name, content, at in central:
        crc = zlib.crc32(content)
        entries.append(
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                len(content),
                len(content),
                len(name),
                0,
                0,
                0,
                0,
                0,
                at,
            )
            + name
        )
    directory = b"".join(entries)
    end = struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        0,
        0,
        len(central),
        len(central),
        len(directory),
        len(body),
        0,
    )
    return body + directory + end


def test_writing_an_archive_whose_entries_overlap_is_refused(tmp_path):
    source = tmp_path / "overlap.keras"
    source.write_bytes(_overlapping_zip(200, b"\0" * 50_000))
    # It reads (its config is fine), so `layercfg upgrade` goes on to write it: 200 copies.
    read = archives.read(str(source))
    target = tmp_path / "overlap.upgraded.keras"
    with pytest.raises(archives.ArchiveError, match="overlap"):
        archives.write(str(source), str(target), read.raw, read.opened)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["overlap.keras"]


def test_writing_an_honest_archive_copies_its_members(tmp_path):
    source = tmp_path / "model.keras"
    source.write_bytes(_keras_zip({"config.json": CONFIG, "model.weights.h5": b"w" * 5000}))
    read = archives.read(str(source))
    target = tmp_path / "model.upgraded.keras"
    archives.write(str(source), str(target), '{"class_name": "Dense"}', read.opened)
    with zipfile.ZipFile(target) as out:
        assert out.read("model.weights.h5") == b"w" * 5000


def test_writing_an_archive_with_a_deflate_bomb_among_its_weights_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("config.json", CONFIG)
        out.writestr("model.weights.h5", b"\0" * (64 << 20), zipfile.ZIP_DEFLATED)
    source = tmp_path / "bomb.keras"
    source.write_bytes(buffer.getvalue())
    read = archives.read(str(source))  # only config.json is read: the bomb is not touched
    with pytest.raises(archives.ArchiveError, match="zip bomb"):
        archives.write(str(source), str(tmp_path / "out.keras"), read.raw, read.opened)


def test_a_zip64_record_zipfile_reads_is_the_one_whose_counts_are_capped(tmp_path):
    # A ZIP64 locator points at a record (inside a member) declaring 3 members; zipfile reads
    # the ZIP64 record just before the locator instead, which declares 20,002.
    decoy = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 3, 3, 100, 0)
    members = {"config.json": CONFIG, "pad": decoy}
    members.update({f"a/{i}": b"" for i in range(20_000)})
    data = bytearray(_keras_zip(members))
    at = data.rfind(b"PK\x05\x06")
    (directory, offset) = struct.unpack("<II", data[at + 12 : at + 20])
    real = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 20_002, 20_002, directory, offset
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, data.find(decoy), 1)
    end = bytearray(data[at:])
    end[8:12] = struct.pack("<HH", 3, 3)
    end[12:16] = struct.pack("<I", 100)
    path = tmp_path / "zip64.keras"
    path.write_bytes(bytes(data[:at]) + real + locator + bytes(end))
    assert len(zipfile.ZipFile(path).infolist()) == 20_002  # what zipfile would parse
    with pytest.raises(
        archives.ArchiveError, match="20002 members, more than the cap"
    ):  # before zipfile
        archives.read(str(path))


def test_a_deeply_nested_config_is_not_pretty_printed_quadratically(tmp_path):
    # 10,000 brackets (20 kB) indented two spaces a level: about 100 MB of view, in the server.
    raw = "[" * 10_000 + "]" * 10_000
    path = tmp_path / "deep.keras"
    path.write_bytes(_keras_zip({"config.json": raw.encode()}))
    view = archives.read(str(path)).view
    assert len(view) <= 100 * len(raw)
    assert "".join(view.split()) == raw  # token for token the member's own text
    normal = json.dumps({"class_name": "Sequential", "config": {"layers": [{"a": [1, 2]}] * 50}})
    assert archives.pretty(normal) != normal and "\n  " in archives.pretty(normal)


def _deep_two_layers(deep_fixture_keras, sequential: bool):
    keras = deep_fixture_keras
    if sequential:
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3, name="d"), keras.layers.Dense(2, name="e")],
            name="s",
        )
    else:
        a = keras.Input((4,), name="a")
        x = keras.layers.Dense(3, name="d")(a)
        model = keras.Model(a, keras.layers.Dense(2, name="e")(x), name="m")
    return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("taken", ["a", "e"])
def test_a_layer_renamed_in_its_config_to_a_name_taken_is_not_passed(deep, sequential, taken):
    # The replay keyed the graph by the entries' names; the layer Keras makes has its config's
    # name, and a model whose names repeat is refused ("is used 2 times in the model").
    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.deep_replay import ReplayMemo
    from layercfg.schema_builder.keras_api import KerasAPI

    keras = deep[0]
    document = _deep_two_layers(keras, sequential)
    api, memo = KerasAPI(), ReplayMemo()
    for _ in range(2):  # the graph is known
        assert DeepChecker(api, memo=memo).check(copy.deepcopy(document))["findings"] == []
    value = copy.deepcopy(document)
    layers = value["config"]["layers"]
    if sequential and taken == "a":
        layers[0]["config"]["name"] = "e"  # the input layer takes a layer's name
    else:
        layers[1]["config"]["name"] = taken
    if not _keras_rejects(keras, value):
        pytest.fail("Keras was expected to refuse repeated names")
    result = DeepChecker(api, memo=memo).check(copy.deepcopy(value))
    assert result["findings"], "the incremental check passed a model Keras refuses"


@pytest.mark.parametrize("config", [[1], "units", 3])
def test_a_layer_whose_config_is_not_an_object_gets_a_verdict(deep, config):
    keras, check, document = deep
    value = copy.deepcopy(document)
    value["config"]["layers"][1]["config"] = config
    assert _keras_rejects(keras, value)
    assert check(value)["findings"]  # raised AttributeError out of the replay


def test_a_lambda_hidden_in_a_node_of_a_known_graph_never_runs(deep, tmp_path):
    keras, check, document = deep
    marker = tmp_path / "ran"

    touch = lambda t, p=str(marker): (open(p, "w").close(), t)[1]  # noqa: E731, SIM115
    a = keras.Input((4,), name="a")
    made = keras.layers.Lambda(touch, name="lam", output_shape=(4,))(a)
    lam = json.loads(json.dumps(keras.saving.serialize_keras_object(keras.Model(a, made))))
    function = lam["config"]["layers"][1]["config"]["function"]
    assert function["class_name"] == "__lambda__"
    marker.unlink(missing_ok=True)
    for where in ("kwargs", "args"):
        value = copy.deepcopy(document)
        node = value["config"]["layers"][1]["inbound_nodes"][0]
        if where == "kwargs":
            node["kwargs"]["training"] = function
        else:
            node["args"].append(function)
        result = check(value)
        assert result["findings"] and not marker.exists()
