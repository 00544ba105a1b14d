import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  chooseInterpreter,
  classifyProbe,
  expandPath,
  formatCommandLine,
  installArgv,
  probeCommand,
  probeMessage,
  quoteArgument,
  serverCommand,
  type InterpreterInputs,
} from "../src/core/interpreter";

const base: InterpreterInputs = {
  setting: "",
  pythonExtension: undefined,
  trusted: true,
  platform: "linux",
  workspaceFolder: "/ws",
  home: "/home/u",
};

describe("chooseInterpreter", () => {
  const cases: [string, Partial<InterpreterInputs>, string[], string][] = [
    ["nothing configured", {}, ["python3"], "default"],
    ["nothing configured on Windows", { platform: "win32" }, ["python"], "default"],
    ["the setting wins", { setting: "/opt/py/bin/python", pythonExtension: ["/venv/bin/python"] }, ["/opt/py/bin/python"], "setting"],
    ["the setting is trimmed", { setting: "  /opt/py/bin/python " }, ["/opt/py/bin/python"], "setting"],
    ["blank setting falls through", { setting: "   ", pythonExtension: ["/venv/bin/python"] }, ["/venv/bin/python"], "pythonExtension"],
    ["non-string setting is ignored", { setting: 42 }, ["python3"], "default"],
    ["the Python extension", { pythonExtension: ["/venv/bin/python"] }, ["/venv/bin/python"], "pythonExtension"],
    ["an argv prefix from the Python extension", { pythonExtension: ["conda", "run", "-n", "ml", "python"] }, ["conda", "run", "-n", "ml", "python"], "pythonExtension"],
    ["empty answer from the Python extension", { pythonExtension: [] }, ["python3"], "default"],
    ["untrusted: no Python extension", { trusted: false, pythonExtension: ["/ws/.venv/bin/python"] }, ["python3"], "default"],
    ["untrusted: user setting still used", { trusted: false, setting: "/usr/bin/python3.12" }, ["/usr/bin/python3.12"], "setting"],
    ["untrusted: no workspace paths", { trusted: false, setting: "${workspaceFolder}/.venv/bin/python" }, ["python3"], "default"],
    ["workspace variable expanded", { setting: "${workspaceFolder}/.venv/bin/python" }, ["/ws/.venv/bin/python"], "setting"],
    ["workspace variable without a folder", { setting: "${workspaceFolder}/.venv/bin/python", workspaceFolder: undefined }, ["python3"], "default"],
    ["home expanded", { setting: "~/envs/ml/bin/python" }, ["/home/u/envs/ml/bin/python"], "setting"],
  ];
  for (const [name, inputs, argv, source] of cases) {
    test(name, () => {
      const choice = chooseInterpreter({ ...base, ...inputs });
      assert.deepEqual(choice.argv, argv);
      assert.equal(choice.source, source);
    });
  }

  test("says why a candidate was passed over", () => {
    const choice = chooseInterpreter({ ...base, trusted: false, pythonExtension: ["/ws/.venv/bin/python"] });
    assert.match(choice.notes.join("\n"), /untrusted/);
  });
});

describe("expandPath", () => {
  test("several variables", () => {
    assert.equal(expandPath("${userHome}/a:${workspaceFolder}/b", { workspaceFolder: "/w", home: "/h" }), "/h/a:/w/b");
  });
  test("replacement text is taken literally", () => {
    assert.equal(expandPath("${workspaceFolder}/py", { workspaceFolder: "/w/$&x" }), "/w/$&x/py");
  });
  test("a tilde inside a path stays", () => {
    assert.equal(expandPath("/a/~b", { home: "/h" }), "/a/~b");
  });
});

describe("command lines", () => {
  test("server over stdio", () => {
    assert.deepEqual(serverCommand(["/venv/bin/python"]), { command: "/venv/bin/python", args: ["-m", "layercfg", "lsp"] });
  });
  test("server through an argv prefix", () => {
    assert.deepEqual(serverCommand(["conda", "run", "-n", "ml", "python"]), {
      command: "conda",
      args: ["run", "-n", "ml", "python", "-m", "layercfg", "lsp"],
    });
  });
  test("probe", () => {
    assert.deepEqual(probeCommand(["python3"]), { command: "python3", args: ["-c", "import layercfg"] });
  });
  test("empty interpreter is refused", () => {
    assert.throws(() => serverCommand([]));
  });
  test("install from the extension's wheel, with Keras when asked", () => {
    assert.deepEqual(installArgv(["/venv/bin/python"], "/ext/bundled/wheels/layercfg-0.1.0-py3-none-any.whl"), [
      "/venv/bin/python",
      "-m",
      "pip",
      "install",
      "/ext/bundled/wheels/layercfg-0.1.0-py3-none-any.whl",
    ]);
    assert.equal(installArgv(["py"], "/w/layercfg.whl", true).at(-1), "/w/layercfg.whl[keras]");
  });
  test("quoting for POSIX shells", () => {
    assert.equal(quoteArgument("/usr/bin/python3", "linux"), "/usr/bin/python3");
    assert.equal(quoteArgument("/my envs/python", "linux"), "'/my envs/python'");
    assert.equal(quoteArgument("it's", "darwin"), "'it'\\''s'");
    assert.equal(quoteArgument("", "linux"), "''");
  });
  test("quoting on Windows", () => {
    assert.equal(quoteArgument("C:\\Python312\\python.exe", "win32"), "C:\\Python312\\python.exe");
    assert.equal(quoteArgument("C:\\Program Files\\Python\\python.exe", "win32"), '"C:\\Program Files\\Python\\python.exe"');
  });
  test("a pasteable install command", () => {
    assert.equal(formatCommandLine(installArgv(["/my envs/py"], "/w/l.whl"), "linux"), "'/my envs/py' -m pip install /w/l.whl");
  });
});

describe("classifyProbe", () => {
  test("exit 0", () => assert.deepEqual(classifyProbe(null, ""), { kind: "installed" }));
  test("no such interpreter", () => assert.equal(classifyProbe({ code: "ENOENT" }, "").kind, "interpreterNotFound"));
  test("module missing", () => {
    const stderr = "Traceback (most recent call last):\n  File \"<string>\", line 1\nModuleNotFoundError: No module named 'layercfg'\n";
    assert.equal(classifyProbe({ code: 1 }, stderr).kind, "notInstalled");
  });
  test("import raised something else", () => {
    const outcome = classifyProbe({ code: 1 }, "Traceback...\nImportError: cannot import name 'x' from 'pygls'\n");
    assert.equal(outcome.kind, "importFailed");
    assert.ok("detail" in outcome && outcome.detail.includes("pygls"));
  });
  test("timeout", () => assert.equal(classifyProbe({ code: null, killed: true, signal: "SIGTERM" }, "").kind, "unknown"));
});

describe("probeMessage", () => {
  test("layercfg missing: points at the bundled server, offers no command the index cannot satisfy", () => {
    const text = probeMessage({ kind: "notInstalled" }, "/venv/bin/python", "linux");
    assert.match(text, /not installed/);
    assert.match(text, /bundled/);
    assert.doesNotMatch(text, /pip install layercfg/);
  });
  test("Keras missing: the command that installs it", () => {
    const text = probeMessage({ kind: "kerasMissing" }, "/venv/bin/python", "linux");
    assert.match(text, /\/venv\/bin\/python -m pip install keras tensorflow-cpu/);
  });
  test("names a missing interpreter", () => {
    assert.match(probeMessage({ kind: "interpreterNotFound" }, "python3", "linux"), /"python3" was not found/);
  });
  test("nothing to say when installed", () => {
    assert.equal(probeMessage({ kind: "installed" }, "python3", "linux"), "");
  });
});
