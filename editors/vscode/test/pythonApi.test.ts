import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { interpreterFromPythonApi, onInterpreterChange } from "../src/core/pythonApi";

const uri = (fsPath: string) => ({ fsPath });

describe("interpreterFromPythonApi", () => {
  test("environments API", async () => {
    const api = {
      environments: {
        getActiveEnvironmentPath: () => ({ id: "x", path: "/venv" }),
        resolveEnvironment: () => Promise.resolve({ executable: { uri: uri("/venv/bin/python") } }),
      },
    };
    assert.deepEqual(await interpreterFromPythonApi(api, undefined), ["/venv/bin/python"]);
  });

  test("resource is passed on", async () => {
    let seen: unknown;
    const api = {
      environments: {
        getActiveEnvironmentPath: (resource: unknown) => {
          seen = resource;
          return { id: "x", path: "/venv/bin/python" };
        },
      },
    };
    assert.deepEqual(await interpreterFromPythonApi(api, "folder"), ["/venv/bin/python"]);
    assert.equal(seen, "folder");
  });

  test("unresolved environment falls back to an executable-looking path", async () => {
    const api = {
      environments: {
        getActiveEnvironmentPath: () => ({ id: "x", path: "/conda/envs/ml/bin/python3.11" }),
        resolveEnvironment: () => Promise.resolve(undefined),
      },
    };
    assert.deepEqual(await interpreterFromPythonApi(api, undefined), ["/conda/envs/ml/bin/python3.11"]);
  });

  test("a folder path is not taken for an interpreter", async () => {
    const api = { environments: { getActiveEnvironmentPath: () => ({ id: "x", path: "/conda/envs/ml" }) } };
    assert.equal(await interpreterFromPythonApi(api, undefined), undefined);
  });

  test("legacy settings API", async () => {
    const api = {
      ready: Promise.resolve(),
      settings: { getExecutionDetails: () => ({ execCommand: ["conda", "run", "-n", "ml", "python"] }) },
    };
    assert.deepEqual(await interpreterFromPythonApi(api, undefined), ["conda", "run", "-n", "ml", "python"]);
  });

  test("legacy API with nothing selected", async () => {
    const api = { settings: { getExecutionDetails: () => ({ execCommand: undefined }) } };
    assert.equal(await interpreterFromPythonApi(api, undefined), undefined);
  });

  test("unusable shapes", async () => {
    for (const api of [undefined, null, 42, {}, { environments: 1 }, { settings: { getExecutionDetails: 1 } }]) {
      assert.equal(await interpreterFromPythonApi(api, undefined), undefined);
    }
  });

  test("a never-ready API does not hang", async () => {
    const api = { ready: new Promise(() => undefined), settings: { getExecutionDetails: () => ({ execCommand: ["py"] }) } };
    assert.deepEqual(await interpreterFromPythonApi(api, undefined, 20), ["py"]);
  });

  test("a throwing API throws (the caller logs it)", async () => {
    const api = { environments: { getActiveEnvironmentPath: () => { throw new Error("boom"); } } };
    await assert.rejects(interpreterFromPythonApi(api, undefined), /boom/);
  });
});

describe("onInterpreterChange", () => {
  test("environments event", () => {
    let disposed = false;
    let registered: (() => void) | undefined;
    const api = {
      environments: {
        onDidChangeActiveEnvironmentPath: (listener: () => void) => {
          registered = listener;
          return { dispose: () => (disposed = true) };
        },
      },
    };
    let calls = 0;
    const subscription = onInterpreterChange(api, () => calls++);
    registered?.();
    assert.equal(calls, 1);
    subscription?.dispose();
    assert.ok(disposed);
  });
  test("no event", () => assert.equal(onInterpreterChange({}, () => undefined), undefined));
});
