/**
 * Runs the "can this interpreter import layercfg?" check. Node only, no `vscode` import.
 */

import { execFile } from "node:child_process";
import { classifyProbe, probeCommand, type ProbeOutcome, type ServerSource } from "./interpreter";

/** Runs the probe of `source` (interpreter.ts) in `cwd` and classifies the result. */
export function probeInterpreter(
  interpreter: readonly string[],
  cwd: string,
  timeoutMs = 30_000,
  source: ServerSource = "environment",
): Promise<ProbeOutcome> {
  const command = probeCommand(interpreter, source);
  return new Promise((resolve) => {
    execFile(command.command, [...command.args], { cwd, timeout: timeoutMs, windowsHide: true }, (error, _stdout, stderr) => {
      const failure = error
        ? { code: error.code, killed: error.killed, signal: error.signal, message: error.message }
        : null;
      resolve(classifyProbe(failure, String(stderr), source));
    });
  });
}
