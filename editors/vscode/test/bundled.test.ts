/** The bundled server's command lines, probe, install commands and log routing. */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  bundledServerCommand,
  classifyProbe,
  installKerasArgv,
  installTerminalProcess,
  probeCommand,
  serverSourceOf,
} from "../src/core/interpreter";
import { LineBuffer, routeClientLine, routeStderrLine } from "../src/core/logRouting";
import { probeInterpreter } from "../src/core/probe";

const python = process.platform === "win32" ? "python" : "python3";

describe("server source", () => {
  test("bundled unless environment is asked for", () => {
    assert.equal(serverSourceOf(undefined), "bundled");
    assert.equal(serverSourceOf("bundled"), "bundled");
    assert.equal(serverSourceOf("environment"), "environment");
    assert.equal(serverSourceOf(42), "bundled");
  });
  test("the bundled server runs isolated", () => {
    assert.deepEqual(bundledServerCommand(["conda", "run", "python"], "/ext/bundled/launch.py"), {
      command: "conda",
      args: ["run", "python", "-I", "/ext/bundled/launch.py"],
    });
  });
  test("the environment probe imports layercfg; the bundled one looks for Keras, isolated", () => {
    assert.deepEqual(probeCommand(["py"], "environment").args, ["-c", "import layercfg"]);
    const bundled = probeCommand(["py"], "bundled");
    assert.equal(bundled.args[0], "-I");
    assert.match(bundled.args[2] ?? "", /find_spec\('keras'\)/);
  });
  test("probe exit codes", () => {
    assert.equal(classifyProbe({ code: 4 }, "", "bundled").kind, "kerasMissing");
    assert.equal(classifyProbe({ code: 3 }, "", "bundled").kind, "unsupportedPython");
    assert.equal(classifyProbe({ code: 4 }, "", "environment").kind, "importFailed");
  });
  test("Keras for the worker", () => {
    assert.deepEqual(installKerasArgv(["/v/bin/python"]), ["/v/bin/python", "-m", "pip", "install", "keras", "tensorflow-cpu"]);
  });
});

describe("the bundled probe, run", () => {
  test("this machine's Python: Keras found, or reported missing", async () => {
    const found = spawnSync(python, ["-I", "-c", "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('keras') else 1)"]);
    const outcome = await probeInterpreter([python], os.tmpdir(), 30_000, "bundled");
    assert.equal(outcome.kind, found.status === 0 ? "installed" : "kerasMissing");
  });
  test("a Python without Keras", async () => {
    // -S: no site-packages, so no Keras.
    const outcome = await probeInterpreter([python, "-S"], os.tmpdir(), 30_000, "bundled");
    assert.equal(outcome.kind, "kerasMissing");
  });
});

describe("install terminal", () => {
  test("none on Windows (typed into the user's shell)", () => {
    assert.equal(installTerminalProcess(["py", "-m", "pip"], "win32"), undefined);
  });
  for (const [argv, code] of [
    [["sh", "-c", "echo installing; exit 0"], 0],
    [["sh", "-c", "echo 'ERROR: no matching distribution' >&2; exit 1"], 1],
  ] as const) {
    test(`shows the command, waits for Enter, exits ${code}`, async () => {
      const wrapped = installTerminalProcess(argv, "linux");
      assert.ok(wrapped);
      const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = execFile(wrapped.command, [...wrapped.args], (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, out: stdout + stderr }),
        );
        child.stdin?.end("\n");
      });
      assert.equal(result.code, code, result.out);
      assert.match(result.out, /\$ sh -c/);
      assert.match(result.out, /Press Enter to close/);
    });
  }
  test("arguments with spaces and quotes stay one argument each", () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "layercfg-term-"));
    const target = path.join(folder, "it's a file");
    const wrapped = installTerminalProcess(["touch", target], "linux");
    assert.ok(wrapped);
    spawnSync(wrapped.command, [...wrapped.args], { input: "\n" });
    assert.ok(fs.existsSync(target));
  });
});

describe("log routing", () => {
  test("the client's level prefix becomes the line's level", () => {
    assert.deepEqual(routeClientLine("[Error - 10:00:01 AM] Server process exited"), {
      level: "error",
      message: "Server process exited",
    });
    assert.deepEqual(routeClientLine("[Info  - 10:00:01] started"), { level: "info", message: "started" });
    assert.deepEqual(routeClientLine("[Trace - 10:00:01] Sending request"), { level: "trace", message: "Sending request" });
    assert.deepEqual(routeClientLine("plain"), { level: "info", message: "plain" });
  });
  test("Python's logging prefix on stderr", () => {
    assert.deepEqual(routeStderrLine("WARNING:pygls.server:something"), { level: "warn", message: "something" });
    assert.deepEqual(routeStderrLine("ERROR:layercfg:bad"), { level: "error", message: "bad" });
    assert.deepEqual(routeStderrLine("Traceback (most recent call last):"), {
      level: "info",
      message: "Traceback (most recent call last):",
    });
  });
  test("cancellations of finished requests are trace, not warnings", () => {
    assert.equal(routeStderrLine('WARNING:pygls.protocol.json_rpc:Cancel notification for unknown message id "12"').level, "trace");
    assert.equal(routeClientLine('[Warn  - 1:00] Cancel notification for unknown message id "3"').level, "trace");
  });
  test("pieces become lines", () => {
    const buffer = new LineBuffer();
    assert.deepEqual(buffer.push("WARN"), []);
    assert.deepEqual(buffer.push("ING:x:a\nINFO:x:b\r\npart"), ["WARNING:x:a", "INFO:x:b"]);
    assert.deepEqual(buffer.flush(), ["part"]);
    assert.deepEqual(buffer.flush(), []);
  });
});
