/**
 * Entry point of the VS Code extension: wires the server manager to the commands, the
 * status bar, settings changes, workspace trust and the Python extension.
 */

import * as vscode from "vscode";
import { registerArchives } from "./archives";
import { schemaDocumentText } from "./core/schema";
import { SECTION } from "./core/settings";
import { formatStatus, type ClientState } from "./core/status";
import { watchPythonExtension } from "./python";
import { LANGUAGE_ID, ServerManager } from "./serverManager";

const COMMANDS = {
  runDeepCheck: "layercfg.client.runDeepCheck",
  rebuildCatalog: "layercfg.client.rebuildCatalog",
  showSchema: "layercfg.client.showSchema",
  showServerLog: "layercfg.client.showServerLog",
  restartServer: "layercfg.client.restartServer",
  showMenu: "layercfg.client.showMenu",
} as const;

/** Commands of the server, run through `workspace/executeCommand`. */
const SERVER_COMMANDS = {
  deepCheck: "layercfg.deepCheck",
  rebuildCatalog: "layercfg.rebuildCatalog",
  showSchema: "layercfg.showSchema",
} as const;

let manager: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel("layercfg", { log: true });
  context.subscriptions.push(log);
  const servers = new ServerManager(context, log);
  manager = servers;
  context.subscriptions.push(servers);

  const item = vscode.window.createStatusBarItem("layercfg.status", vscode.StatusBarAlignment.Right, 100);
  item.name = "layercfg";
  item.command = COMMANDS.showMenu;
  context.subscriptions.push(item);
  const render = (state: ClientState): void => {
    const view = formatStatus(state);
    item.text = view.text;
    item.tooltip = view.tooltip;
    item.backgroundColor =
      view.level === "error"
        ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : view.level === "warning"
          ? new vscode.ThemeColor("statusBarItem.warningBackground")
          : undefined;
    const editor = vscode.window.activeTextEditor;
    if (editor?.document.languageId === LANGUAGE_ID) {
      item.show();
    } else {
      item.hide();
    }
  };
  context.subscriptions.push(
    servers.onDidChangeState(render),
    servers.onDidChangeState((state) => void followServer(state, log)),
    vscode.workspace.onDidOpenTextDocument(() => void followServer(servers.state, log)),
    vscode.window.onDidChangeActiveTextEditor(() => render(servers.state)),
  );
  render(servers.state);

  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.runDeepCheck, (uri?: vscode.Uri) => runDeepCheck(servers, uri)),
    vscode.commands.registerCommand(COMMANDS.rebuildCatalog, () => rebuildCatalog(servers)),
    vscode.commands.registerCommand(COMMANDS.showSchema, () => showSchema(servers)),
    vscode.commands.registerCommand(COMMANDS.showServerLog, () => log.show(true)),
    vscode.commands.registerCommand(COMMANDS.restartServer, () => servers.restart()),
    vscode.commands.registerCommand(COMMANDS.showMenu, () => showMenu(servers)),
  );

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SECTION}.python`) || event.affectsConfiguration(`${SECTION}.serverSource`)) {
        void servers.restart();
      } else if (event.affectsConfiguration(SECTION)) {
        servers.settingsChanged();
      }
    }),
    // Trust may unlock the Python extension's interpreter and the workspace's modules.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void servers.refresh()),
  );

  registerArchives(context, servers, LANGUAGE_ID);

  // Neither waits: activation returns at once, the server comes up in the background.
  void watchPythonExtension(() => {
    if (servers.interpreter?.source !== "setting") {
      void servers.refresh();
    }
  }, log).then((following) => following && context.subscriptions.push(following));
  void servers.start();
}

export async function deactivate(): Promise<void> {
  await manager?.stop();
  manager = undefined;
}

/**
 * The fallback while the server cannot run (not installed, failed): *.layercfg.json files are
 * shown as JSON, which VS Code's JSON support checks against the schema the extension carries
 * (the `jsonValidation` contribution, `layercfg schema` at package time). Once the server
 * runs they are layercfg files again.
 */
async function followServer(state: ClientState, log: vscode.LogOutputChannel): Promise<void> {
  const off = state.kind === "notInstalled" || state.kind === "failed";
  const running = state.kind === "running";
  if (!off && !running) {
    return;
  }
  const [from, to] = off ? ["layercfg-json", "json"] : ["json", LANGUAGE_ID];
  for (const document of vscode.workspace.textDocuments) {
    if (document.languageId === from && document.uri.path.endsWith(".layercfg.json")) {
      try {
        await vscode.languages.setTextDocumentLanguage(document, to);
        if (off) {
          log.info(`${vscode.workspace.asRelativePath(document.uri)}: checked as JSON with the bundled schema while the server is not running.`);
        }
      } catch (error) {
        log.warn(`Could not set the language of ${document.uri.toString()}: ${String(error)}`);
      }
    }
  }
}

/** Runs a server command, or explains why the server cannot. */
async function runOnServer(servers: ServerManager, title: string, command: string, args: unknown[]): Promise<unknown> {
  // A command right after opening the first file waits for the server to come up.
  await servers.whenSettled();
  if (servers.state.kind !== "running") {
    await servers.explainNotRunning();
    return undefined;
  }
  try {
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `layercfg: ${title}` },
      () => servers.executeCommand(command, args),
    );
  } catch (error) {
    const pick = await vscode.window.showErrorMessage(`layercfg: ${title} failed: ${messageOf(error)}`, "Show Log");
    if (pick === "Show Log") {
      servers.log.show(true);
    }
    return undefined;
  }
}

async function runDeepCheck(servers: ServerManager, uri: vscode.Uri | undefined): Promise<void> {
  let document: vscode.TextDocument | undefined;
  if (uri) {
    // From the explorer: the server checks open documents, so open it (in the background).
    document = await vscode.workspace.openTextDocument(uri);
  } else {
    document = vscode.window.activeTextEditor?.document;
  }
  if (!document || document.languageId !== LANGUAGE_ID) {
    void vscode.window.showWarningMessage("layercfg: open a *.layercfg.json file to run a deep check on it.");
    return;
  }
  await runOnServer(servers, "deep check", SERVER_COMMANDS.deepCheck, [document.uri.toString()]);
}

async function rebuildCatalog(servers: ServerManager): Promise<void> {
  await runOnServer(servers, "rebuilding the Keras catalog", SERVER_COMMANDS.rebuildCatalog, []);
}

async function showSchema(servers: ServerManager): Promise<void> {
  const result = await runOnServer(servers, "generating the JSON Schema", SERVER_COMMANDS.showSchema, []);
  if (result === undefined) {
    return;
  }
  let content: string;
  try {
    content = schemaDocumentText(result);
  } catch (error) {
    void vscode.window.showErrorMessage(`layercfg: ${messageOf(error)}`);
    return;
  }
  const document = await vscode.workspace.openTextDocument({ language: "json", content });
  await vscode.window.showTextDocument(document, { preview: false });
}

async function showMenu(servers: ServerManager): Promise<void> {
  interface Entry extends vscode.QuickPickItem {
    readonly command: string;
  }
  const entries: Entry[] = [];
  if (servers.state.kind === "notInstalled" || servers.state.kind === "failed") {
    entries.push({ label: "$(tools) Fix the server setup…", command: "fix" });
  }
  if (vscode.window.activeTextEditor?.document.languageId === LANGUAGE_ID) {
    entries.push({ label: "$(beaker) Run deep check on this file", command: COMMANDS.runDeepCheck });
  }
  entries.push(
    { label: "$(refresh) Rebuild the Keras catalog", command: COMMANDS.rebuildCatalog },
    { label: "$(json) Show the generated JSON Schema", command: COMMANDS.showSchema },
    { label: "$(output) Show server log", command: COMMANDS.showServerLog },
    { label: "$(debug-restart) Restart server", command: COMMANDS.restartServer },
  );
  const pick = await vscode.window.showQuickPick(entries, { placeHolder: menuTitle(servers.state) });
  if (!pick) {
    return;
  }
  if (pick.command === "fix") {
    await servers.explainNotRunning();
  } else {
    await vscode.commands.executeCommand(pick.command);
  }
}

/** The menu's title: what the status item says, in words. */
function menuTitle(state: ClientState): string {
  const view = formatStatus(state);
  return view.text.replace(/\$\([^)]*\)\s*/g, "").trim() || "layercfg";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
