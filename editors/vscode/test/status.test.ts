import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatStatus, parseStatus, shorten, type ServerStatus } from "../src/core/status";

const ready: ServerStatus = { catalog: "ready", kerasVersion: "3.10.0", backend: "tensorflow", message: null, deepCheck: "idle" };

describe("parseStatus", () => {
  test("a full notification", () => {
    assert.deepEqual(parseStatus({ ...ready }), ready);
  });
  test("unknown or missing catalog state", () => {
    assert.equal(parseStatus({ catalog: "exploded" }), undefined);
    assert.equal(parseStatus({}), undefined);
    assert.equal(parseStatus(null), undefined);
    assert.equal(parseStatus("ready"), undefined);
  });
  test("missing optional fields", () => {
    assert.deepEqual(parseStatus({ catalog: "building" }), {
      catalog: "building",
      kerasVersion: null,
      backend: null,
      message: null,
      deepCheck: "idle",
    });
  });
  test("wrongly typed fields become null", () => {
    const status = parseStatus({ catalog: "failed", kerasVersion: 3, message: ["x"], deepCheck: "busy" });
    assert.equal(status?.kerasVersion, null);
    assert.equal(status?.message, null);
    assert.equal(status?.deepCheck, "idle");
  });
});

describe("formatStatus", () => {
  const running = (status: ServerStatus) => formatStatus({ kind: "running", interpreter: "python3", status });

  test("building", () => {
    const view = running({ ...ready, catalog: "building", kerasVersion: null });
    assert.match(view.text, /sync~spin/);
    assert.match(view.text, /building catalog/);
    assert.equal(view.level, "normal");
  });
  test("ready shows the Keras version, the backend in the tooltip", () => {
    const view = running(ready);
    assert.equal(view.text, "$(check) layercfg: Keras 3.10.0 (keras)");
    assert.match(view.tooltip, /Keras 3\.10\.0 \(keras\) \(tensorflow backend\)/);
    assert.match(view.tooltip, /Deep check: idle/);
  });
  test("ready without a version", () => {
    assert.equal(running({ ...ready, kerasVersion: null }).text, "$(check) layercfg: Keras");
  });
  test("failed shows the message", () => {
    const view = running({ ...ready, catalog: "failed", message: "No module named 'keras'" });
    assert.equal(view.text, "$(error) layercfg: No module named 'keras'");
    assert.equal(view.level, "error");
    assert.match(view.tooltip, /No module named 'keras'/);
  });
  test("failed with a long message is shortened in the text, whole in the tooltip", () => {
    const message = "ImportError: " + "x".repeat(200) + "\nsecond line";
    const view = running({ ...ready, catalog: "failed", message });
    assert.ok(view.text.length < 70, view.text);
    assert.ok(view.text.endsWith("…"));
    assert.ok(view.tooltip.includes("second line"));
  });
  test("failed without a message", () => {
    assert.equal(running({ ...ready, catalog: "failed" }).text, "$(error) layercfg: catalog failed");
  });
  test("missing catalog is a warning", () => {
    assert.equal(running({ ...ready, catalog: "missing" }).level, "warning");
  });
  test("deep check running", () => {
    const view = running({ ...ready, deepCheck: "running" });
    assert.equal(view.text, "$(check) layercfg: Keras 3.10.0 (keras) $(loading~spin) deep check");
    assert.match(view.tooltip, /Deep check: running/);
  });
  test("the flavor: the server's word, else Keras 2 is tf_keras", () => {
    assert.equal(running({ ...ready, kerasVersion: "2.21.0" }).text, "$(check) layercfg: Keras 2.21.0 (tf_keras)");
    assert.equal(running({ ...ready, flavor: "tf_keras" }).text, "$(check) layercfg: Keras 3.10.0 (tf_keras)");
    assert.equal(parseStatus({ ...ready, flavor: "tf_keras" })?.flavor, "tf_keras");
    assert.equal(parseStatus({ ...ready, flavor: 7 })?.flavor, undefined);
  });
  test("the server's source is in the text and the tooltip", () => {
    const bundled = formatStatus({ kind: "running", interpreter: "python3", status: ready, source: "bundled" });
    assert.equal(bundled.text, "$(check) layercfg: Keras 3.10.0 (keras) · bundled");
    assert.match(bundled.tooltip, /bundled with the extension/);
    const environment = formatStatus({ kind: "running", interpreter: "python3", status: ready, source: "environment" });
    assert.match(environment.text, /· environment$/);
    assert.match(environment.tooltip, /installed in the interpreter/);
  });
  test("the Keras worker: exited while idle, and started on demand", () => {
    assert.equal(parseStatus({ ...ready, worker: "idle-exited" })?.worker, "idle-exited");
    assert.equal(parseStatus({ ...ready, worker: "asleep" })?.worker, undefined);
    assert.match(running({ ...ready, worker: "idle-exited" }).tooltip, /exited while idle.*next deep check starts it/);
    assert.match(running({ ...ready, worker: "running" }).tooltip, /Keras worker: running/);
    assert.doesNotMatch(running(ready).tooltip, /Keras worker/);
  });
  test("deep check off", () => {
    assert.match(running({ ...ready, deepCheck: "off" }).tooltip, /Deep check: off/);
  });
  test("client states", () => {
    assert.match(formatStatus({ kind: "starting", interpreter: "/venv/bin/python" }).tooltip, /\/venv\/bin\/python/);
    assert.equal(formatStatus({ kind: "notInstalled", interpreter: "python3", message: "m" }).level, "warning");
    assert.equal(formatStatus({ kind: "failed", interpreter: "python3", message: "m" }).level, "error");
    const noStatus = formatStatus({ kind: "running", interpreter: "python3" });
    assert.equal(noStatus.text, "$(check) layercfg");
    assert.match(noStatus.tooltip, /no catalog status/);
    assert.equal(formatStatus({ kind: "stopped" }).level, "normal");
  });
});

describe("shorten", () => {
  test("first line only", () => assert.equal(shorten("a\nb"), "a"));
  test("short text unchanged", () => assert.equal(shorten("abc", 5), "abc"));
  test("long text cut", () => assert.equal(shorten("abcdefgh", 5), "abcd…"));
});
