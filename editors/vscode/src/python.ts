/**
 * VS Code side of the interpreter choice: asks the Python extension which interpreter it has
 * selected, and follows its changes.
 */

import * as vscode from "vscode";
import { interpreterFromPythonApi, onInterpreterChange } from "./core/pythonApi";

export const PYTHON_EXTENSION_ID = "ms-python.python";

export function pythonExtensionInstalled(): boolean {
  return vscode.extensions.getExtension(PYTHON_EXTENSION_ID) !== undefined;
}

async function pythonApi(): Promise<unknown> {
  const extension = vscode.extensions.getExtension<unknown>(PYTHON_EXTENSION_ID);
  if (!extension) {
    return undefined;
  }
  return extension.isActive ? extension.exports : await extension.activate();
}

/** The Python extension's interpreter for `resource`, or undefined (not installed, no answer, error). */
export async function pythonExtensionInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string[] | undefined> {
  try {
    const api = await pythonApi();
    return api === undefined ? undefined : await interpreterFromPythonApi(api, resource);
  } catch (error) {
    log.warn(`Could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}

/** Calls `listener` when the Python extension's selected interpreter changes. */
export async function watchPythonExtension(listener: () => void, log: vscode.LogOutputChannel): Promise<vscode.Disposable | undefined> {
  try {
    const api = await pythonApi();
    const subscription = api === undefined ? undefined : onInterpreterChange(api, listener);
    return subscription ? new vscode.Disposable(() => subscription.dispose()) : undefined;
  } catch (error) {
    log.warn(`Could not follow the Python extension's interpreter: ${String(error)}`);
    return undefined;
  }
}
