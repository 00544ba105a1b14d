/**
 * `.keras` archives as read-only `layercfg:` documents, and Keras `config.json` files offered
 * to layercfg. The server reads the archive (`layercfg/archiveContent`) and tells a Keras
 * `config.json` from a Hugging Face one (`layercfg/detect`); this file only shows the answers.
 */

import * as path from "node:path";
import * as vscode from "vscode";

export const ARCHIVE_SCHEME = "layercfg";
export const OPEN_ARCHIVE = "layercfg.openArchive";

/** What the extension needs of the server manager. */
export interface ServerRequests {
  request(method: string, params: unknown): Promise<unknown>;
}

interface ArchiveContent {
  readonly uri?: string;
  readonly text?: string;
  readonly notes?: readonly string[];
  readonly error?: string;
}

interface Detection {
  readonly keras?: boolean;
  readonly reason?: string;
}

async function content(servers: ServerRequests, uri: vscode.Uri): Promise<ArchiveContent | undefined> {
  return (await servers.request("layercfg/archiveContent", { uri: uri.toString() })) as ArchiveContent | undefined;
}

/** Opens an archive's config.json (the one given, or one picked) as a layercfg document. */
async function openArchive(servers: ServerRequests, languageId: string, given?: vscode.Uri): Promise<void> {
  const picked =
    given ??
    (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { "Keras archive": ["keras"] } }))?.[0];
  if (!picked) {
    return;
  }
  const answer = await content(servers, picked);
  if (!answer?.uri) {
    void vscode.window.showErrorMessage(`layercfg: ${answer?.error ?? `${picked.fsPath} is not a .keras archive`}`);
    return;
  }
  const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(answer.uri));
  const typed = await vscode.languages.setTextDocumentLanguage(document, languageId);
  await vscode.window.showTextDocument(typed, { preview: true });
}

/** Asks once per file whether a Keras config.json should be checked by layercfg. */
async function offerConfig(servers: ServerRequests, languageId: string, document: vscode.TextDocument, asked: Set<string>): Promise<void> {
  if (document.uri.scheme !== "file" || path.basename(document.uri.fsPath) !== "config.json") {
    return;
  }
  if (document.languageId === languageId || asked.has(document.uri.toString())) {
    return;
  }
  asked.add(document.uri.toString());
  let found: Detection | undefined;
  try {
    found = (await servers.request("layercfg/detect", { uri: document.uri.toString() })) as Detection | undefined;
  } catch {
    return; // no server yet: nothing to offer
  }
  if (!found?.keras) {
    return;
  }
  const check = "Check with layercfg";
  const choice = await vscode.window.showInformationMessage(`This config.json is a Keras config (${found.reason}).`, check);
  if (choice === check) {
    await vscode.languages.setTextDocumentLanguage(document, languageId);
  }
}

export function registerArchives(context: vscode.ExtensionContext, servers: ServerRequests, languageId: string): void {
  const asked = new Set<string>();
  const provider: vscode.TextDocumentContentProvider = {
    async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
      const answer = await content(servers, uri);
      if (answer?.error) {
        void vscode.window.showErrorMessage(`layercfg: ${answer.error}`);
      }
      for (const note of answer?.notes ?? []) {
        void vscode.window.showInformationMessage(`layercfg: ${note}`);
      }
      return answer?.text ?? "";
    },
  };
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(ARCHIVE_SCHEME, provider),
    vscode.commands.registerCommand(OPEN_ARCHIVE, (uri?: vscode.Uri) => openArchive(servers, languageId, uri)),
    vscode.workspace.onDidOpenTextDocument((document) => void offerConfig(servers, languageId, document, asked)),
  );
}
