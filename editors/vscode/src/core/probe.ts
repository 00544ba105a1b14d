/**
 * Runs the "can this interpreter import layercfg?" check. Node only, no `vscode` import.
 */

import { execFile } from "node:child_process";
import { classifyProbe, probeCommand, type ProbeOutcome } from "./interpreter";

/** Runs `<python> -c "import layercfg"` in `cwd` and classifies the result. */
export function probeInterpreter(interpreter: readonly string[], cwd: string, timeoutMs = 30_000): Promise<ProbeOutcome> {
  const command = probeCommand(interpreter);
  return new Promise((resolve) => {
    execFile(command.command, [...command.args], { cwd, timeout: timeoutMs, windowsHide: true }, (error, _stdout, stderr) => {
      const failure = error
        ? { code: error.code, killed: error.killed, signal: error.signal, message: error.message }
        : null;
      resolve(classifyProbe(failure, String(stderr)));
    });
  });
}
