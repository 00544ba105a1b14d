import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { probeInterpreter } from "../src/core/probe";

const posix = process.platform !== "win32";
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "layercfg-probe-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A stand-in interpreter: a shell script that records its arguments and its directory. */
function fakePython(name: string, body: string): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, `#!/bin/sh\necho "$PWD" > "${file}.cwd"\necho "$@" > "${file}.args"\n${body}\n`, { mode: 0o755 });
  return file;
}

describe("probeInterpreter", { skip: posix ? false : "needs a POSIX shell" }, () => {
  test("importable", async () => {
    const python = fakePython("ok", "exit 0");
    assert.deepEqual(await probeInterpreter([python], os.tmpdir()), { kind: "installed" });
    assert.equal(fs.readFileSync(`${python}.args`, "utf8").trim(), "-c import layercfg");
  });

  test("runs in the given directory", async () => {
    const python = fakePython("cwd", "exit 0");
    const directory = fs.mkdtempSync(path.join(scratch, "neutral-"));
    await probeInterpreter([python], directory);
    assert.equal(fs.realpathSync(fs.readFileSync(`${python}.cwd`, "utf8").trim()), fs.realpathSync(directory));
  });

  test("not installed", async () => {
    const python = fakePython("missing", `echo "ModuleNotFoundError: No module named 'layercfg'" >&2\nexit 1`);
    assert.equal((await probeInterpreter([python], os.tmpdir())).kind, "notInstalled");
  });

  test("broken install", async () => {
    const python = fakePython("broken", `echo "ImportError: cannot import name 'LanguageServer'" >&2\nexit 1`);
    const outcome = await probeInterpreter([python], os.tmpdir());
    assert.equal(outcome.kind, "importFailed");
  });

  test("no such interpreter", async () => {
    const outcome = await probeInterpreter([path.join(scratch, "does-not-exist")], os.tmpdir());
    assert.equal(outcome.kind, "interpreterNotFound");
  });

  test("a hanging interpreter is given up on", async () => {
    const python = fakePython("hang", "exec sleep 5");
    const outcome = await probeInterpreter([python], os.tmpdir(), 200);
    assert.equal(outcome.kind, "unknown");
  });

  test("an argv prefix", async () => {
    const python = fakePython("prefix", "exit 0");
    await probeInterpreter([python, "-X", "utf8"], os.tmpdir());
    assert.equal(fs.readFileSync(`${python}.args`, "utf8").trim(), "-X utf8 -c import layercfg");
  });
});
