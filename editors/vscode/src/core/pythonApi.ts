/**
 * Reads the interpreter selected in the Python extension (`ms-python.python`) from its
 * exported API, without trusting its shape: the API has changed over the years and any
 * part of it may be missing. Pure: the API object is passed in, no `vscode` import.
 */

type Callable = (...args: unknown[]) => unknown;

function member(value: unknown, name: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

function isCallable(value: unknown): value is Callable {
  return typeof value === "function";
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

async function withTimeout<T>(promise: Promise<T>, milliseconds: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), milliseconds);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The interpreter as an argv prefix, or undefined when the API does not tell.
 *
 * Tries the `environments` API (`getActiveEnvironmentPath` + `resolveEnvironment`), then the
 * older `settings.getExecutionDetails(resource).execCommand`. `resource` is the workspace
 * folder's Uri (opaque here).
 */
export async function interpreterFromPythonApi(
  api: unknown,
  resource: unknown,
  timeoutMs: number = 10_000,
): Promise<string[] | undefined> {
  const ready = member(api, "ready");
  if (isCallable(member(ready, "then"))) {
    await withTimeout(Promise.resolve(ready), timeoutMs);
  }

  const environments = member(api, "environments");
  const getActive = member(environments, "getActiveEnvironmentPath");
  if (isCallable(getActive)) {
    const active: unknown = getActive.call(environments, resource);
    const resolve = member(environments, "resolveEnvironment");
    if (active !== undefined && isCallable(resolve)) {
      const resolved: unknown = await withTimeout(Promise.resolve(resolve.call(environments, active)), timeoutMs);
      const executable = member(member(member(resolved, "executable"), "uri"), "fsPath");
      if (nonEmptyString(executable)) {
        return [executable];
      }
    }
    // `path` is the executable for most environments, but a folder for some conda ones,
    // so it is only a fallback.
    const path = member(active, "path");
    if (nonEmptyString(path) && /python[\d.]*(\.exe)?$/i.test(path)) {
      return [path];
    }
  }

  const settings = member(api, "settings");
  const getDetails = member(settings, "getExecutionDetails");
  if (isCallable(getDetails)) {
    const command = member(getDetails.call(settings, resource), "execCommand");
    if (Array.isArray(command) && command.length > 0 && command.every(nonEmptyString)) {
      return command;
    }
  }
  return undefined;
}

/**
 * Subscribes to the API's "selected interpreter changed" event, whichever version exposes.
 * Returns a disposable-like object, or undefined when there is no such event.
 */
export function onInterpreterChange(api: unknown, listener: () => void): { dispose(): unknown } | undefined {
  const candidates: [unknown, string][] = [
    [member(api, "environments"), "onDidChangeActiveEnvironmentPath"],
    [member(api, "settings"), "onDidChangeExecutionDetails"],
  ];
  for (const [owner, name] of candidates) {
    const event = member(owner, name);
    if (isCallable(event)) {
      const subscription: unknown = event.call(owner, listener);
      if (isCallable(member(subscription, "dispose"))) {
        return subscription as { dispose(): unknown };
      }
    }
  }
  return undefined;
}
