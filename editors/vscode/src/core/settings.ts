/**
 * VS Code's `layercfg.*` settings mapped to what the server receives, both as
 * `initializationOptions` and as the answer to `workspace/configuration` for section
 * `layercfg`. Pure: no `vscode` import.
 */

export const SECTION = "layercfg";

export type DeepCheckMode = "onType" | "onSave" | "off";

/** The settings of the server contract, with their defaults. */
export const DEFAULTS = {
  modules: [] as string[],
  deepCheck: "onType" as DeepCheckMode,
  deepCheckTimeout: 20,
  deepCheckMemoryMB: 2048,
  severity: {} as Record<string, string>,
  flavor: "auto",
  workerIdleMinutes: 5,
} as const;

/** Keys passed through as the user wrote them; the server validates them and reports. */
const PASSED_THROUGH = [
  "modules",
  "deepCheck",
  "deepCheckTimeout",
  "deepCheckMemoryMB",
  "severity",
  "flavor",
  "workerIdleMinutes",
] as const;

export interface ServerSettings {
  modules: unknown;
  python?: string;
  trustWorkspace: boolean;
  deepCheck: unknown;
  deepCheckTimeout: unknown;
  deepCheckMemoryMB: unknown;
  severity: unknown;
  flavor: unknown;
  workerIdleMinutes: unknown;
}

export interface SettingsContext {
  /** `vscode.workspace.isTrusted`. */
  readonly trusted: boolean;
  /**
   * The interpreter the server was started with, when it came from `layercfg.python`
   * (expanded). Otherwise the server's own interpreter is the right default for its worker,
   * so nothing is sent.
   */
  readonly python?: string | undefined;
}

/**
 * Builds the `layercfg` section for the server from the raw settings (a plain object with
 * the keys of the `layercfg` configuration section; absent keys take their defaults).
 *
 * `trustWorkspace` is on only when both the workspace is trusted and the user has not
 * turned it off; client-only keys such as `trace` are left out. Values are copied
 * (VS Code hands out frozen proxies), not corrected: a wrong value reaches the server,
 * which reports it and falls back to the default.
 */
export function serverSettings(raw: Readonly<Record<string, unknown>> | undefined, context: SettingsContext): ServerSettings {
  const source = raw ?? {};
  const result: Record<string, unknown> = {};
  for (const key of PASSED_THROUGH) {
    const value = source[key];
    result[key] = value === undefined || value === null ? copy(DEFAULTS[key]) : copy(value);
  }
  result.trustWorkspace = context.trusted && source.trustWorkspace !== false;
  if (context.python) {
    result.python = context.python;
  }
  return result as unknown as ServerSettings;
}

function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

