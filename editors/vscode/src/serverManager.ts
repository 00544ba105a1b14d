/**
 * The life of the layercfg server process: choose the interpreter, check that it has
 * `layercfg`, start `python -m layercfg lsp` over stdio, hand it the settings, follow its
 * `layercfg/status`, restart it when the interpreter changes.
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import {
  chooseInterpreter,
  formatCommandLine,
  installArgv,
  probeMessage,
  serverCommand,
  type InterpreterChoice,
  type ProbeOutcome,
} from "./core/interpreter";
import { SECTION, serverSettings, type ServerSettings } from "./core/settings";
import { parseStatus, STATUS_NOTIFICATION, type ClientState } from "./core/status";
import { probeInterpreter } from "./core/probe";
import { pythonExtensionInstalled, pythonExtensionInterpreter } from "./python";

export const LANGUAGE_ID = "layercfg-json";

const SETTING_KEYS = ["modules", "trustWorkspace", "deepCheck", "deepCheckTimeout", "deepCheckMemoryMB", "severity"] as const;

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private choice: InterpreterChoice | undefined;
  private queue: Promise<void> = Promise.resolve();
  private current: ClientState = { kind: "stopped" };
  private readonly stateChanged = new vscode.EventEmitter<ClientState>();
  private lastProbe: ProbeOutcome | undefined;

  readonly onDidChangeState = this.stateChanged.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {}

  get state(): ClientState {
    return this.current;
  }

  get interpreter(): InterpreterChoice | undefined {
    return this.choice;
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

  /** Re-sends the settings; a running server re-reads them. */
  settingsChanged(): Promise<void> {
    return this.enqueue(() => this.sendSettings());
  }

  /** Runs a server command through `workspace/executeCommand`. */
  async executeCommand(command: string, args: unknown[] = []): Promise<unknown> {
    const client = this.client;
    if (!client || this.current.kind !== "running") {
      throw new Error("the layercfg server is not running");
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  /** Shows again why the server is not running, with the ways out. */
  async explainNotRunning(): Promise<void> {
    const state = this.current;
    if (state.kind === "notInstalled" && this.choice && this.lastProbe) {
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

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(task, task);
    this.queue = next.catch((error: unknown) => this.log.error(`layercfg client: ${String(error)}`));
    return next;
  }

  private setState(state: ClientState): void {
    this.current = state;
    this.stateChanged.fire(state);
  }

  private folder(): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.workspaceFolders?.[0];
  }

  private async resolveInterpreter(): Promise<InterpreterChoice> {
    const folder = this.folder();
    const trusted = vscode.workspace.isTrusted;
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
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SECTION]: this.settingsFor(undefined) },
      });
    }
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    const choice = await this.resolveInterpreter();
    this.choice = choice;
    const shown = formatCommandLine(choice.argv, process.platform);
    for (const note of choice.notes) {
      this.log.warn(note);
    }
    this.log.info(`Interpreter (${choice.source}): ${shown}`);
    this.setState({ kind: "starting", interpreter: shown });

    const cwd = await this.neutralDirectory();
    const outcome = await probeInterpreter(choice.argv, cwd);
    this.lastProbe = outcome;
    if (outcome.kind !== "installed") {
      const message = probeMessage(outcome, shown, process.platform);
      if (outcome.kind === "unknown") {
        this.log.warn(message);
      } else {
        this.log.error(message);
        this.setState({ kind: "notInstalled", interpreter: shown, message });
        void this.offerInstall(choice, outcome);
        return;
      }
    }

    const command = serverCommand(choice.argv);
    const serverOptions: ServerOptions = {
      command: command.command,
      args: [...command.args],
      transport: TransportKind.stdio,
      options: { cwd },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { language: LANGUAGE_ID, scheme: "file" },
        { language: LANGUAGE_ID, scheme: "untitled" },
      ],
      outputChannel: this.log,
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
        this.setState({ kind: "running", interpreter: shown, status });
      }
    });
    client.onDidChangeState((event) => {
      if (this.client !== client) {
        return;
      }
      if (event.newState === State.Running) {
        const status = this.current.kind === "running" ? this.current.status : undefined;
        this.setState({ kind: "running", interpreter: shown, status });
      } else if (event.newState === State.Stopped) {
        this.setState({ kind: "failed", interpreter: shown, message: "the server stopped; see the log" });
      }
    });
    this.client = client;
    this.log.info(`Starting: ${formatCommandLine([command.command, ...command.args], process.platform)}`);
    try {
      await client.start();
    } catch (error) {
      this.log.error(`The layercfg server did not start: ${String(error)}`);
      this.setState({ kind: "failed", interpreter: shown, message: String(error) });
    }
  }

  private answerConfiguration(section: string | undefined, scopeUri: string | undefined, fallback: unknown): unknown {
    if (section !== SECTION && !section?.startsWith(`${SECTION}.`)) {
      return fallback;
    }
    const scope = scopeUri ? vscode.Uri.parse(scopeUri) : undefined;
    const settings = this.settingsFor(scope) as unknown as Record<string, unknown>;
    return section === SECTION ? settings : (settings[section.slice(SECTION.length + 1)] ?? null);
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.dispose(2000);
      } catch (error) {
        this.log.warn(`Stopping the server: ${String(error)}`);
      }
    }
    this.setState({ kind: "stopped" });
  }

  private async offerInstall(choice: InterpreterChoice, outcome: ProbeOutcome): Promise<void> {
    const shown = formatCommandLine(choice.argv, process.platform);
    const message = probeMessage(outcome, shown, process.platform);
    const install = installArgv(choice.argv);
    const actions: string[] = [];
    if (outcome.kind === "notInstalled") {
      actions.push("Install in Terminal", "Copy Install Command");
    }
    actions.push(pythonExtensionInstalled() ? "Select Interpreter" : "Open Settings");
    const pick = await vscode.window.showErrorMessage(message, ...actions);
    switch (pick) {
      case "Install in Terminal":
        await this.installInTerminal(install);
        break;
      case "Copy Install Command":
        await vscode.env.clipboard.writeText(formatCommandLine(install, process.platform));
        void vscode.window.showInformationMessage(
          "Install command copied. Run it in a terminal, then run \"layercfg: Restart Server\".",
        );
        break;
      case "Select Interpreter":
        await vscode.commands.executeCommand("python.setInterpreter");
        break;
      case "Open Settings":
        await vscode.commands.executeCommand("workbench.action.openSettings", "layercfg.python");
        break;
      default:
        break;
    }
  }

  private async installInTerminal(install: readonly string[]): Promise<void> {
    const [shellPath, ...shellArgs] = install;
    if (!shellPath) {
      return;
    }
    // The interpreter is the terminal's process: no shell, so no quoting to get wrong.
    const terminal = vscode.window.createTerminal({
      name: "layercfg: install",
      shellPath,
      shellArgs,
      cwd: await this.neutralDirectory(),
    });
    terminal.show();
    const watcher = vscode.window.onDidCloseTerminal((closed) => {
      if (closed !== terminal) {
        return;
      }
      watcher.dispose();
      if (closed.exitStatus?.code === 0) {
        this.log.info("layercfg installed; restarting the server.");
        void this.restart();
      }
    });
    this.context.subscriptions.push(watcher);
  }
}
