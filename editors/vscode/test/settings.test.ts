import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULTS, serverSettings } from "../src/core/settings";

describe("serverSettings", () => {
  test("defaults when nothing is set", () => {
    assert.deepEqual(serverSettings(undefined, { trusted: true }), {
      modules: [],
      deepCheck: "onType",
      deepCheckTimeout: 20,
      deepCheckMemoryMB: 2048,
      severity: {},
      flavor: "auto",
      workerIdleMinutes: 5,
      trustWorkspace: true,
    });
  });

  const trustCases: [boolean, unknown, boolean][] = [
    [true, undefined, true],
    [true, true, true],
    [true, false, false],
    [false, undefined, false],
    [false, true, false],
    [false, false, false],
  ];
  for (const [trusted, setting, expected] of trustCases) {
    test(`trust: workspace ${trusted ? "trusted" : "untrusted"}, setting ${String(setting)} -> ${expected}`, () => {
      assert.equal(serverSettings({ trustWorkspace: setting }, { trusted }).trustWorkspace, expected);
    });
  }

  test("user values pass through", () => {
    const raw = {
      modules: ["mypkg.layers"],
      deepCheck: "onSave",
      deepCheckTimeout: 5,
      deepCheckMemoryMB: 512,
      severity: { LCF102: "warning" },
    };
    const result = serverSettings(raw, { trusted: true });
    assert.deepEqual(result.modules, ["mypkg.layers"]);
    assert.equal(result.deepCheck, "onSave");
    assert.equal(result.deepCheckTimeout, 5);
    assert.equal(result.deepCheckMemoryMB, 512);
    assert.deepEqual(result.severity, { LCF102: "warning" });
  });

  test("wrong values reach the server unchanged, for it to report", () => {
    const result = serverSettings({ deepCheck: "always", deepCheckTimeout: "soon" }, { trusted: true });
    assert.equal(result.deepCheck, "always");
    assert.equal(result.deepCheckTimeout, "soon");
  });

  test("client-only keys are not sent", () => {
    const result = serverSettings({ trace: { server: "verbose" }, python: "/x/python" }, { trusted: true });
    assert.ok(!("trace" in result));
    assert.ok(!("python" in result), "python is sent only from the context");
  });

  test("python comes from the context", () => {
    assert.equal(serverSettings({}, { trusted: true, python: "/opt/py/bin/python" }).python, "/opt/py/bin/python");
  });

  test("values are copies", () => {
    const severity = { LCF102: "warning" };
    const result = serverSettings({ severity }, { trusted: true });
    assert.notEqual(result.severity, severity);
    (result.modules as string[]).push("x");
    assert.deepEqual(DEFAULTS.modules, []);
  });
});
