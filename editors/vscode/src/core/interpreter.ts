/**
 * Which Python runs the server, and the command lines built from it: the server itself,
 * the "is layercfg installed?" probe, and the install command offered when it is not.
 * Pure: no `vscode` import, so `npm test` runs it under plain Node.
 */

export type InterpreterSource = "setting" | "pythonExtension" | "default";

/** An interpreter as an argv prefix: usually one path, sometimes `conda run -n env python`. */
export interface InterpreterChoice {
  readonly argv: readonly string[];
  readonly source: InterpreterSource;
  /** Why a candidate was passed over, for the log. */
  readonly notes: readonly string[];
}

export interface InterpreterInputs {
  /** Value of the `layercfg.python` setting, as VS Code returns it (may be anything). */
  readonly setting: unknown;
  /** What the Python extension has selected for this workspace, when it is installed. */
  readonly pythonExtension: readonly string[] | undefined;
  /** VS Code's workspace trust. */
  readonly trusted: boolean;
  readonly platform: string;
  readonly workspaceFolder?: string | undefined;
  readonly home?: string | undefined;
}

export interface CommandLine {
  readonly command: string;
  readonly args: readonly string[];
}

export function defaultInterpreter(platform: string): string {
  // On Windows `python3` is often the Microsoft Store stub, which opens a store page.
  return platform === "win32" ? "python" : "python3";
}

/**
 * Expands `${workspaceFolder}`, `${userHome}` and a leading `~` in a configured path.
 * Returns undefined when the path needs a workspace folder and there is none.
 */
export function expandPath(
  value: string,
  context: { workspaceFolder?: string | undefined; home?: string | undefined },
): string | undefined {
  let result = value.trim();
  if (result.includes("${workspaceFolder}")) {
    if (!context.workspaceFolder) {
      return undefined;
    }
    const folder = context.workspaceFolder;
    result = result.replaceAll("${workspaceFolder}", () => folder);
  }
  if (context.home) {
    const home = context.home;
    result = result.replaceAll("${userHome}", () => home);
    if (result === "~" || result.startsWith("~/") || result.startsWith("~\\")) {
      result = home + result.slice(1);
    }
  }
  return result;
}

/**
 * The setting wins, then the Python extension's selection, then `python3`.
 *
 * In an untrusted workspace an interpreter chosen by, or living in, the workspace would run
 * the workspace's code, so the Python extension's selection and `${workspaceFolder}` paths
 * are skipped there (the workspace's own value of the setting is already dropped by VS Code
 * through `restrictedConfigurations`).
 */
export function chooseInterpreter(inputs: InterpreterInputs): InterpreterChoice {
  const notes: string[] = [];
  const setting = typeof inputs.setting === "string" ? inputs.setting.trim() : "";
  if (inputs.setting !== undefined && inputs.setting !== null && typeof inputs.setting !== "string") {
    notes.push("layercfg.python is not a string; ignored");
  }
  if (setting) {
    const usesWorkspace = setting.includes("${workspaceFolder}");
    if (usesWorkspace && !inputs.trusted) {
      notes.push(`layercfg.python (${setting}) points into the workspace, which is not trusted; ignored`);
    } else {
      const expanded = expandPath(setting, inputs);
      if (expanded) {
        return { argv: [expanded], source: "setting", notes };
      }
      notes.push(`layercfg.python (${setting}) needs an open workspace folder; ignored`);
    }
  }
  const fromExtension = (inputs.pythonExtension ?? []).filter((part) => part.length > 0);
  if (fromExtension.length > 0) {
    if (inputs.trusted) {
      return { argv: fromExtension, source: "pythonExtension", notes };
    }
    notes.push("the Python extension's interpreter is not used in an untrusted workspace");
  }
  return { argv: [defaultInterpreter(inputs.platform)], source: "default", notes };
}

/** `<python> -m layercfg lsp`, the language server over stdio. */
export function serverCommand(interpreter: readonly string[]): CommandLine {
  return withInterpreter(interpreter, ["-m", "layercfg", "lsp"]);
}

/** Where the server comes from: the copy inside the extension, or the interpreter's own. */
export type ServerSource = "bundled" | "environment";

export function serverSourceOf(setting: unknown): ServerSource {
  return setting === "environment" ? "environment" : "bundled";
}

/**
 * `<python> -I <extension>/bundled/launch.py`: the bundled server, isolated (no current
 * directory, no PYTHONPATH, no user site on its path).
 */
export function bundledServerCommand(interpreter: readonly string[], launcher: string): CommandLine {
  return withInterpreter(interpreter, ["-I", launcher]);
}

/** The CPython versions whose native modules the extension bundles (scripts/bundle_python.py). */
export const BUNDLED_PYTHONS = { min: [3, 10], max: [3, 13] } as const;

/** Exit codes of the bundled-server probe. */
const UNSUPPORTED_PYTHON = 3;
const NO_KERAS = 4;

/**
 * The probe for a server source: for `environment`, `import layercfg`; for `bundled`, that
 * the interpreter's version has bundled native modules and that it can find Keras (for the
 * worker; looked up, not imported: importing TensorFlow takes seconds).
 */
export function probeCommand(interpreter: readonly string[], source: ServerSource = "environment"): CommandLine {
  if (source === "environment") {
    return withInterpreter(interpreter, ["-c", "import layercfg"]);
  }
  const { min, max } = BUNDLED_PYTHONS;
  const script =
    "import sys, importlib.util\n" +
    `if not (${min[0]}, ${min[1]}) <= sys.version_info[:2] <= (${max[0]}, ${max[1]}): sys.exit(${UNSUPPORTED_PYTHON})\n` +
    `sys.exit(0 if importlib.util.find_spec('keras') else ${NO_KERAS})\n`;
  return withInterpreter(interpreter, ["-I", "-c", script]);
}

/** What the user's interpreter needs for the Keras worker of the bundled server. */
export const KERAS_PACKAGES = ["keras", "tensorflow-cpu"] as const;

/** `<python> -m pip install keras tensorflow-cpu`, as argv. */
export function installKerasArgv(interpreter: readonly string[]): string[] {
  return [...interpreter, "-m", "pip", "install", ...KERAS_PACKAGES];
}

/**
 * `<python> -m pip install <wheel>`: layercfg from the wheel the extension carries (the
 * package index has no layercfg), its dependencies from the index. With `keras`, Keras too.
 */
export function installArgv(interpreter: readonly string[], wheel: string, keras = false): string[] {
  return [...interpreter, "-m", "pip", "install", keras ? `${wheel}[keras]` : wheel];
}

function withInterpreter(interpreter: readonly string[], args: readonly string[]): CommandLine {
  const [command, ...prefix] = interpreter;
  if (command === undefined || command === "") {
    throw new Error("empty interpreter command");
  }
  return { command, args: [...prefix, ...args] };
}

/** One argument quoted for a POSIX shell, or for cmd/PowerShell on Windows. */
export function quoteArgument(argument: string, platform: string): string {
  if (platform === "win32") {
    return /^[\w@%+=:,./\\-]+$/.test(argument) ? argument : `"${argument.replace(/"/g, '\\"')}"`;
  }
  return /^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, "'\\''")}'`;
}

/** A command line a person can paste into their shell. */
export function formatCommandLine(argv: readonly string[], platform: string): string {
  return argv.map((argument) => quoteArgument(argument, platform)).join(" ");
}

export type ProbeOutcome =
  | { readonly kind: "installed" }
  | { readonly kind: "kerasMissing" }
  | { readonly kind: "unsupportedPython" }
  | { readonly kind: "interpreterNotFound" }
  | { readonly kind: "notInstalled" }
  | { readonly kind: "importFailed"; readonly detail: string }
  | { readonly kind: "unknown"; readonly detail: string };

/** What went wrong when running the probe, as reported by `child_process.execFile`. */
export interface ProbeFailure {
  readonly code?: string | number | null | undefined;
  readonly killed?: boolean | undefined;
  readonly signal?: string | null | undefined;
  readonly message?: string | undefined;
}

/** Classifies the probe's result; `failure` is null when it exited 0. */
export function classifyProbe(failure: ProbeFailure | null, stderr: string, source: ServerSource = "environment"): ProbeOutcome {
  if (failure === null) {
    return { kind: "installed" };
  }
  if (failure.code === "ENOENT" || failure.code === "EACCES") {
    return { kind: "interpreterNotFound" };
  }
  if (source === "bundled" && failure.code === NO_KERAS) {
    return { kind: "kerasMissing" };
  }
  if (source === "bundled" && failure.code === UNSUPPORTED_PYTHON) {
    return { kind: "unsupportedPython" };
  }
  if (failure.killed || failure.signal) {
    return { kind: "unknown", detail: "the check timed out or was interrupted" };
  }
  if (/ModuleNotFoundError: No module named '?layercfg'?/.test(stderr)) {
    return { kind: "notInstalled" };
  }
  const detail = lastLines(stderr, 6) || failure.message || `exit code ${String(failure.code)}`;
  if (typeof failure.code === "number") {
    return { kind: "importFailed", detail };
  }
  return { kind: "unknown", detail };
}

function lastLines(text: string, count: number): string {
  return text.trim().split(/\r?\n/).slice(-count).join("\n");
}

/** The sentence shown to the user when the probe did not find a usable `layercfg`. */
export function probeMessage(outcome: ProbeOutcome, interpreter: string, platform: string): string {
  const keras = formatCommandLine(installKerasArgv([interpreter]), platform);
  switch (outcome.kind) {
    case "installed":
      return "";
    case "kerasMissing":
      return (
        `layercfg: Keras is not installed for ${interpreter}: syntax checks work, schemas and deep ` +
        `checks need it. Install it with: ${keras}`
      );
    case "unsupportedPython":
      return (
        `layercfg: the bundled server runs on CPython ${BUNDLED_PYTHONS.min.join(".")} to ` +
        `${BUNDLED_PYTHONS.max.join(".")}; ${interpreter} is another version. Select another ` +
        "interpreter, or set layercfg.serverSource to \"environment\" with layercfg installed in it."
      );
    case "interpreterNotFound":
      return (
        `layercfg: the Python interpreter "${interpreter}" was not found. ` +
        "Set layercfg.python, or select an interpreter with the Python extension."
      );
    case "notInstalled":
      return (
        `layercfg is not installed for ${interpreter} (layercfg.serverSource is "environment"). ` +
        "Use the server bundled with the extension, or install layercfg from the extension's copy."
      );
    case "importFailed":
      return `layercfg could not be imported by ${interpreter}: ${outcome.detail}`;
    case "unknown":
      return `layercfg: could not check ${interpreter} (${outcome.detail}); starting the server anyway.`;
  }
}

/**
 * The terminal's process for an install command: a POSIX shell that runs it, says how it
 * ended and waits for Enter, so that pip's errors stay on screen; it exits with the command's
 * status, which VS Code reports when the terminal closes. Undefined on Windows, where the
 * command is typed into the user's own shell instead.
 */
export function installTerminalProcess(argv: readonly string[], platform: string): CommandLine | undefined {
  if (platform === "win32") {
    return undefined;
  }
  const command = formatCommandLine(argv, platform);
  const script =
    `printf '%s\\n\\n' ${quoteArgument(`$ ${command}`, platform)}; ${command}; status=$?; echo; ` +
    'if [ "$status" = 0 ]; then echo "Done. Press Enter to close this terminal; the layercfg server restarts."; ' +
    'else echo "The command failed (exit code $status). Press Enter to close this terminal."; fi; ' +
    'read -r _; exit "$status"';
  return { command: "/bin/sh", args: ["-c", script] };
}
