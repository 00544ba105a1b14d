/**
 * The life of the layercfg server process: choose the interpreter, check that it has
 * `layercfg`, start `python -m layercfg lsp` over stdio, hand it the settings, follow its
 * `layercfg/status`, restart it when the interpreter changes.
 */

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type ServerOptions,
  type StreamInfo,
} from "vscode-languageclient/node";
import {
  bundledServerCommand,
  chooseInterpreter,
  formatCommandLine,
  installArgv,
  installKerasArgv,
  installTerminalProcess,
  probeMessage,
  serverCommand,
  serverSourceOf,
  type CommandLine,
  type InterpreterChoice,
  type ProbeOutcome,
  type ServerSource,
} from "./core/interpreter";
import { LineBuffer, routeClientLine, routeStderrLine, type RoutedLine } from "./core/logRouting";
import { SECTION, serverSettings, type ServerSettings } from "./core/settings";
import { parseStatus, STATUS_NOTIFICATION, type ClientState } from "./core/status";
import { probeInterpreter } from "./core/probe";
import { pythonExtensionInstalled, pythonExtensionInterpreter } from "./python";

export const LANGUAGE_ID = "layercfg-json";

const SETTING_KEYS = [
  "modules",
  "trustWorkspace",
  "deepCheck",
  "deepCheckTimeout",
  "deepCheckMemoryMB",
  "severity",
  "flavor",
  "workerIdleMinutes",
] as const;

/** Settings changes closer together than this are sent to the server as one. */
const SETTINGS_DEBOUNCE_MS = 300;

/**
 * An OutputChannel for vscode-languageclient that writes into a LogOutputChannel at the
 * level of each line: the client's `[Error - time]` prefixes and Python's logging prefixes
 * are taken off, since the LogOutputChannel shows the level and the time itself.
 */
class RoutedChannel implements vscode.OutputChannel {
  private readonly buffer = new LineBuffer();

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly route: (line: string) => RoutedLine,
  ) {}

  get name(): string {
    return this.log.name;
  }

  append(value: string): void {
    for (const line of this.buffer.push(value)) {
      this.write(line);
    }
  }

  appendLine(value: string): void {
    for (const line of [...this.buffer.push(value), ...this.buffer.flush()]) {
      this.write(line);
    }
  }

  replace(value: string): void {
    this.appendLine(value);
  }

  clear(): void {
    this.log.clear();
  }

  show(preserveFocus?: boolean): void;
  show(_column?: vscode.ViewColumn, preserveFocus?: boolean): void;
  show(first?: boolean | vscode.ViewColumn, second?: boolean): void {
    this.log.show(typeof first === "boolean" ? first : (second ?? true));
  }

  hide(): void {
    this.log.hide();
  }

  dispose(): void {
    // The LogOutputChannel belongs to the extension, not to one client.
  }

  write(line: string): void {
    const routed = this.route(line);
    this.log[routed.level](routed.message);
  }
}

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private process: ChildProcess | undefined;
  private choice: InterpreterChoice | undefined;
  private source: ServerSource = "bundled";
  private queue: Promise<void> = Promise.resolve();
  private current: ClientState = { kind: "stopped" };
  private readonly stateChanged = new vscode.EventEmitter<ClientState>();
  private lastProbe: ProbeOutcome | undefined;
  private lastSent: string | undefined;
  private settingsTimer: NodeJS.Timeout | undefined;
  /** An install offer still on screen: hidden once the server runs. */
  private offerShown = false;
  private readonly clientChannel: RoutedChannel;
  private readonly traceChannel: RoutedChannel;

  readonly onDidChangeState = this.stateChanged.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {
    this.clientChannel = new RoutedChannel(log, routeClientLine);
    this.traceChannel = new RoutedChannel(log, (line) => ({ level: "trace", message: routeClientLine(line).message }));
  }

  get state(): ClientState {
    return this.current;
  }

  get interpreter(): InterpreterChoice | undefined {
    return this.choice;
  }

  /** Which server runs (or would run): the extension's bundled copy or the interpreter's. */
  get serverSource(): ServerSource {
    return this.source;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  dispose(): void {
    clearTimeout(this.settingsTimer);
    void this.stop();
    this.stateChanged.dispose();
  }

  /** Restarts when the interpreter choice would now differ, else re-sends the settings. */
  refresh(): Promise<void> {
    return this.enqueue(async () => {
      const next = await this.resolveInterpreter();
      if (!this.choice || next.argv.join("\0") !== this.choice.argv.join("\0") || this.current.kind !== "running") {
        await this.doStop();
        await this.doStart();
      } else {
        await this.sendSettings();
      }
    });
  }

  /** Resolves once the queued starts, stops and restarts are done. */
  whenSettled(): Promise<void> {
    return this.queue;
  }

  /**
   * Sends the settings once a burst of changes is over, and only when what the server would
   * receive changed: one settings change, one notification (and so at most one message
   * about a wrong value).
   */
  settingsChanged(): void {
    clearTimeout(this.settingsTimer);
    this.settingsTimer = setTimeout(() => void this.enqueue(() => this.sendSettings()), SETTINGS_DEBOUNCE_MS);
  }

  /** Runs a server command through `workspace/executeCommand`. */
  async executeCommand(command: string, args: unknown[] = []): Promise<unknown> {
    const client = this.client;
    if (!client || this.current.kind !== "running") {
      throw new Error("the layercfg server is not running");
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  /** Sends a custom request to the running server (`layercfg/archiveContent`, ...). */
  async request(method: string, params: unknown): Promise<unknown> {
    const client = this.client;
    if (!client || this.current.kind !== "running") {
      throw new Error("the layercfg server is not running");
    }
    return client.sendRequest(method, params);
  }

  /** Shows again why the server is not running, with the ways out. */
  async explainNotRunning(): Promise<void> {
    const state = this.current;
    if (state.kind === "notInstalled" && this.choice && this.lastProbe) {
      await this.offerInstall(this.choice, this.lastProbe);
      return;
    }
    if (this.choice && this.lastProbe?.kind === "kerasMissing") {
      await this.offerInstall(this.choice, this.lastProbe);
      return;
    }
    const message =
      state.kind === "failed" ? `The layercfg server failed: ${state.message}` : "The layercfg server is not running.";
    const pick = await vscode.window.showErrorMessage(message, "Restart Server", "Show Log");
    if (pick === "Restart Server") {
      await this.restart();
    } else if (pick === "Show Log") {
      this.log.show(true);
    }
  }

  /**
   * Opens the Settings editor at `layercfg.python` where VS Code applies it: in a remote
   * window (code-server, SSH, WSL, containers) a machine-overridable setting is read from
   * the Remote settings, and the User tab does not list it.
   */
  async openPythonSetting(): Promise<void> {
    const query = `${SECTION}.python`;
    if (vscode.env.remoteName) {
      await vscode.commands.executeCommand("workbench.action.openRemoteSettings", { query });
    } else {
      await vscode.commands.executeCommand("workbench.action.openSettings", query);
    }
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(task, task);
    this.queue = next.catch((error: unknown) => this.log.error(`layercfg client: ${String(error)}`));
    return next;
  }

  private setState(state: ClientState): void {
    this.current = state;
    this.stateChanged.fire(state);
    if (state.kind === "running" && this.offerShown && this.lastProbe?.kind !== "kerasMissing") {
      // The offer to install is out of date: the server runs. VS Code gives extensions no
      // handle on a message they showed; hiding the toasts is what it offers.
      this.offerShown = false;
      void vscode.commands.executeCommand("notifications.hideToasts");
    }
  }

  private folder(): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.workspaceFolders?.[0];
  }

  private async resolveInterpreter(): Promise<InterpreterChoice> {
    const folder = this.folder();
    const trusted = vscode.workspace.isTrusted;
    // getConfiguration(section, scope).get resolves as VS Code does: default, then User (or,
    // in a remote window, Remote), then workspace and folder for machine-overridable keys.
    const setting = vscode.workspace.getConfiguration(SECTION, folder?.uri).get<unknown>("python");
    const fromExtension = trusted ? await pythonExtensionInterpreter(folder?.uri, this.log) : undefined;
    return chooseInterpreter({
      setting,
      pythonExtension: fromExtension,
      trusted,
      platform: process.platform,
      workspaceFolder: folder?.uri.fsPath,
      home: os.homedir(),
    });
  }

  /**
   * A directory of the extension's own to run Python in: `python -m` puts the current
   * directory first on `sys.path`, and a workspace's own `layercfg` folder must not be
   * imported in its place.
   */
  private async neutralDirectory(): Promise<string> {
    const directory = this.context.globalStorageUri.fsPath;
    try {
      await fs.promises.mkdir(directory, { recursive: true });
      return directory;
    } catch {
      return os.homedir();
    }
  }

  private bundledPath(...parts: string[]): string {
    return path.join(this.context.extensionPath, "bundled", ...parts);
  }

  /** The wheel of layercfg the extension carries, for installing it into an interpreter. */
  private async bundledWheel(): Promise<string | undefined> {
    try {
      const names = await fs.promises.readdir(this.bundledPath("wheels"));
      const wheel = names.find((name) => name.startsWith("layercfg-") && name.endsWith(".whl"));
      return wheel ? this.bundledPath("wheels", wheel) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The `layercfg` section for a scope, as the server receives it. */
  settingsFor(scope: vscode.Uri | undefined): ServerSettings {
    const configuration = vscode.workspace.getConfiguration(SECTION, scope ?? this.folder()?.uri);
    const raw: Record<string, unknown> = {};
    for (const key of SETTING_KEYS) {
      raw[key] = configuration.get<unknown>(key);
    }
    const python = this.choice?.source === "setting" ? this.choice.argv[0] : undefined;
    return serverSettings(raw, { trusted: vscode.workspace.isTrusted, python });
  }

  private async sendSettings(): Promise<void> {
    const client = this.client;
    if (client && client.state === State.Running) {
      const settings = this.settingsFor(undefined);
      const text = JSON.stringify(settings);
      if (text === this.lastSent) {
        return;
      }
      this.lastSent = text;
      await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: settings } });
    }
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    const choice = await this.resolveInterpreter();
    this.choice = choice;
    const configured = vscode.workspace.getConfiguration(SECTION, this.folder()?.uri).get<unknown>("serverSource");
    let source = serverSourceOf(configured);
    const launcher = this.bundledPath("launch.py");
    if (source === "bundled" && !fs.existsSync(launcher)) {
      this.log.warn(`This copy of the extension has no bundled server (${launcher}); using the interpreter's layercfg.`);
      source = "environment";
    }
    this.source = source;
    const shown = formatCommandLine(choice.argv, process.platform);
    for (const note of choice.notes) {
      this.log.warn(note);
    }
    this.log.info(`Interpreter (${choice.source}): ${shown}; server: ${source}`);
    this.setState({ kind: "starting", interpreter: shown, source });

    const cwd = await this.neutralDirectory();
    const outcome = await probeInterpreter(choice.argv, cwd, 30_000, source);
    this.lastProbe = outcome;
    if (outcome.kind === "kerasMissing") {
      // The bundled server runs without Keras (syntax checks); the worker needs it.
      this.log.warn(probeMessage(outcome, shown, process.platform));
      void this.offerInstall(choice, outcome);
    } else if (outcome.kind !== "installed") {
      const message = probeMessage(outcome, shown, process.platform);
      if (outcome.kind === "unknown") {
        this.log.warn(message);
      } else {
        this.log.error(message);
        this.setState({ kind: "notInstalled", interpreter: shown, message, source });
        void this.offerInstall(choice, outcome);
        return;
      }
    }

    const command = source === "bundled" ? bundledServerCommand(choice.argv, launcher) : serverCommand(choice.argv);
    const serverOptions: ServerOptions = () => this.spawnServer(command, cwd);
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { language: LANGUAGE_ID, scheme: "file" },
        { language: LANGUAGE_ID, scheme: "untitled" },
        { language: LANGUAGE_ID, scheme: "layercfg" }, // .keras archives (archives.ts)
      ],
      outputChannel: this.clientChannel,
      traceOutputChannel: this.traceChannel,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => this.settingsFor(undefined),
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const answers = await next(params, token);
            if (!Array.isArray(answers)) {
              return answers;
            }
            return params.items.map((item, index) => this.answerConfiguration(item.section, item.scopeUri, answers[index]));
          },
        },
      },
    };

    const client = new LanguageClient("layercfg", "layercfg", serverOptions, clientOptions);
    client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
      const status = parseStatus(params);
      if (!status) {
        this.log.warn(`Ignored a malformed ${STATUS_NOTIFICATION}: ${JSON.stringify(params)}`);
        return;
      }
      if (this.client === client) {
        this.setState({ kind: "running", interpreter: shown, status, source });
      }
    });
    client.onDidChangeState((event) => {
      if (this.client !== client) {
        return;
      }
      if (event.newState === State.Running) {
        const status = this.current.kind === "running" ? this.current.status : undefined;
        this.setState({ kind: "running", interpreter: shown, status, source });
      } else if (event.newState === State.Stopped) {
        this.setState({ kind: "failed", interpreter: shown, message: "the server stopped; see the log", source });
      }
    });
    this.client = client;
    // The settings the server starts with (initializationOptions) count as sent.
    this.lastSent = JSON.stringify(this.settingsFor(undefined));
    this.log.info(`Starting: ${formatCommandLine([command.command, ...command.args], process.platform)}`);
    try {
      await client.start();
    } catch (error) {
      this.log.error(`The layercfg server did not start: ${String(error)}`);
      this.setState({ kind: "failed", interpreter: shown, message: String(error), source });
    }
  }

  /**
   * Starts the server process: stdio for the protocol, stderr into the log at its lines'
   * levels, and its exit logged as what it is (an exit after a stop is no error).
   */
  private spawnServer(command: CommandLine, cwd: string): Promise<StreamInfo> {
    return new Promise((resolve, reject) => {
      const child = spawn(command.command, [...command.args], {
        cwd,
        env: { ...process.env, PYTHONUNBUFFERED: "1" },
        stdio: ["pipe", "pipe", "pipe"],
        windowsHide: true,
      });
      const stderr = new LineBuffer();
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (text: string) => {
        for (const line of stderr.push(text)) {
          const routed = routeStderrLine(line);
          this.log[routed.level](routed.message);
        }
      });
      child.once("error", (error) => reject(error));
      child.once("spawn", () => {
        this.process = child;
        resolve({ reader: child.stdout, writer: child.stdin });
      });
      child.once("exit", (code, signal) => {
        for (const line of stderr.flush()) {
          this.log.info(routeStderrLine(line).message);
        }
        const stopping = this.process !== child;
        if (this.process === child) {
          this.process = undefined;
        }
        const how = signal ? `signal ${signal}` : `code ${String(code)}`;
        if (stopping || (code === 0 && !signal)) {
          this.log.info(`Server process ${child.pid ?? ""} exited (${how}).`);
        } else {
          this.log.error(`Server process ${child.pid ?? ""} exited unexpectedly (${how}).`);
        }
      });
    });
  }

  private answerConfiguration(section: string | undefined, scopeUri: string | undefined, fallback: unknown): unknown {
    if (section !== SECTION && !section?.startsWith(`${SECTION}.`)) {
      return fallback;
    }
    const scope = scopeUri ? vscode.Uri.parse(scopeUri) : undefined;
    const settings = this.settingsFor(scope) as unknown as Record<string, unknown>;
    return section === SECTION ? settings : (settings[section.slice(SECTION.length + 1)] ?? null);
  }

  /** Stops the client (shutdown, exit), then makes sure its process is gone. */
  private async doStop(): Promise<void> {
    const client = this.client;
    const child = this.process;
    this.client = undefined;
    this.process = undefined; // from here on its exit is expected
    if (client) {
      try {
        if (client.state === State.Running || client.state === State.Starting) {
          await client.stop(4000);
        }
      } catch (error) {
        this.log.warn(`Stopping the server: ${String(error)}`);
      }
      try {
        await client.dispose();
      } catch {
        // already stopped
      }
    }
    if (child && child.exitCode === null && child.signalCode === null) {
      // After `exit` the server stops its Keras worker and ends by itself; only one that
      // does not is ended (SIGTERM, then SIGKILL).
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      const term = setTimeout(() => child.kill("SIGTERM"), 3000);
      const kill = setTimeout(() => child.kill("SIGKILL"), 6000);
      await exited;
      clearTimeout(term);
      clearTimeout(kill);
    }
    this.setState({ kind: "stopped" });
  }

  private async offerInstall(choice: InterpreterChoice, outcome: ProbeOutcome): Promise<void> {
    const shown = formatCommandLine(choice.argv, process.platform);
    const message = probeMessage(outcome, shown, process.platform);
    const wheel = await this.bundledWheel();
    const actions: string[] = [];
    let install: string[] | undefined;
    if (outcome.kind === "kerasMissing") {
      install = installKerasArgv(choice.argv);
      actions.push("Install Keras in Terminal", "Copy Install Command");
    } else if (outcome.kind === "notInstalled") {
      if (fs.existsSync(this.bundledPath("launch.py"))) {
        actions.push("Use the Bundled Server");
      }
      if (wheel) {
        install = installArgv(choice.argv, wheel, true);
        actions.push("Install in Terminal", "Copy Install Command");
      }
    }
    actions.push(pythonExtensionInstalled() ? "Select Interpreter" : "Open Settings");
    this.offerShown = true;
    const pick = await vscode.window.showErrorMessage(message, ...actions);
    this.offerShown = false;
    switch (pick) {
      case "Install Keras in Terminal":
      case "Install in Terminal":
        if (install) {
          await this.installInTerminal(install);
        }
        break;
      case "Copy Install Command":
        if (install) {
          await vscode.env.clipboard.writeText(formatCommandLine(install, process.platform));
          void vscode.window.showInformationMessage(
            'Install command copied. Run it in a terminal, then run "layercfg: Restart Server".',
          );
        }
        break;
      case "Use the Bundled Server":
        await vscode.workspace.getConfiguration(SECTION).update("serverSource", "bundled", vscode.ConfigurationTarget.Global);
        break;
      case "Select Interpreter":
        await vscode.commands.executeCommand("python.setInterpreter");
        break;
      case "Open Settings":
        await this.openPythonSetting();
        break;
      default:
        break;
    }
  }

  private async installInTerminal(install: readonly string[]): Promise<void> {
    const cwd = await this.neutralDirectory();
    const wrapped = installTerminalProcess(install, process.platform);
    // No shell quoting to get wrong where we can avoid it: the wrapper gets the command as
    // quoted argv; on Windows the command is typed into the user's shell, which stays open.
    const terminal = wrapped
      ? vscode.window.createTerminal({ name: "layercfg: install", shellPath: wrapped.command, shellArgs: [...wrapped.args], cwd })
      : vscode.window.createTerminal({ name: "layercfg: install", cwd });
    if (!wrapped) {
      terminal.sendText(formatCommandLine(install, process.platform), true);
    }
    terminal.show();
    const watcher = vscode.window.onDidCloseTerminal((closed) => {
      if (closed !== terminal) {
        return;
      }
      watcher.dispose();
      if (closed.exitStatus?.code === 0) {
        this.log.info("Installed; restarting the server.");
        void this.restart();
      }
    });
    this.context.subscriptions.push(watcher);
  }
}
