/**
 * The `layercfg/status` notification, read defensively, and the status bar text made from
 * it and from the client's own state. Pure: no `vscode` import.
 */

import type { ServerSource } from "./interpreter";

export type CatalogState = "missing" | "building" | "ready" | "failed";
export type DeepCheckState = "idle" | "running" | "off";

/** Params of the server → client notification `layercfg/status`. */
export interface ServerStatus {
  readonly catalog: CatalogState;
  readonly kerasVersion: string | null;
  readonly backend: string | null;
  readonly message: string | null;
  readonly deepCheck: DeepCheckState;
  /** The catalog's flavor (`keras` for Keras 3, `tf_keras` for Keras 2), when the server says. */
  readonly flavor?: string | null;
  /** The Keras worker: running, exited after being idle (started again on demand), or none yet. */
  readonly worker?: WorkerState;
}

export type WorkerState = "running" | "idle-exited" | "none";
const WORKER_STATES: readonly string[] = ["running", "idle-exited", "none"];

export const STATUS_NOTIFICATION = "layercfg/status";

const CATALOG_STATES: readonly string[] = ["missing", "building", "ready", "failed"];
const DEEP_CHECK_STATES: readonly string[] = ["idle", "running", "off"];

/** Reads the params of `layercfg/status`; undefined when they are not an object with a known catalog state. */
export function parseStatus(params: unknown): ServerStatus | undefined {
  if (typeof params !== "object" || params === null) {
    return undefined;
  }
  const record = params as Record<string, unknown>;
  if (typeof record.catalog !== "string" || !CATALOG_STATES.includes(record.catalog)) {
    return undefined;
  }
  const text = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);
  const deepCheck =
    typeof record.deepCheck === "string" && DEEP_CHECK_STATES.includes(record.deepCheck)
      ? (record.deepCheck as DeepCheckState)
      : "idle";
  return {
    catalog: record.catalog as CatalogState,
    kerasVersion: text(record.kerasVersion),
    backend: text(record.backend),
    message: text(record.message),
    deepCheck,
    ...(text(record.flavor) ? { flavor: text(record.flavor) } : {}),
    ...(typeof record.worker === "string" && WORKER_STATES.includes(record.worker)
      ? { worker: record.worker as WorkerState }
      : {}),
  };
}

/** The client's own view of the server process. */
export type ClientState =
  | { readonly kind: "starting"; readonly interpreter: string; readonly source?: ServerSource }
  | {
      readonly kind: "running";
      readonly interpreter: string;
      readonly status?: ServerStatus | undefined;
      readonly source?: ServerSource;
    }
  | { readonly kind: "notInstalled"; readonly interpreter: string; readonly message: string; readonly source?: ServerSource }
  | { readonly kind: "failed"; readonly interpreter: string; readonly message: string; readonly source?: ServerSource }
  | { readonly kind: "stopped" };

/** The server's origin as the tooltip says it. */
export function sourceLine(source: ServerSource | undefined): string {
  return source === "environment"
    ? "Server: layercfg installed in the interpreter (layercfg.serverSource: environment)"
    : "Server: bundled with the extension (layercfg.serverSource: bundled)";
}

/**
 * The flavor of the catalog: what the server says, else what the Keras version tells
 * (Keras 3 is `keras`, Keras 2 is `tf_keras`).
 */
export function flavorOf(status: ServerStatus): string | null {
  if (status.flavor) {
    return status.flavor;
  }
  const major = status.kerasVersion?.split(".", 1)[0];
  return major === "3" ? "keras" : major === "2" ? "tf_keras" : null;
}

export type StatusLevel = "normal" | "warning" | "error";

/** What the status bar item shows. `text` may hold `$(icon)` codicons. */
export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
  readonly level: StatusLevel;
}

const MAX_TEXT_MESSAGE = 40;

export function shorten(message: string, limit: number = MAX_TEXT_MESSAGE): string {
  const line = message.split(/\r?\n/, 1)[0]?.trim() ?? "";
  return line.length <= limit ? line : `${line.slice(0, limit - 1).trimEnd()}…`;
}

function kerasLabel(status: ServerStatus): string {
  const flavor = flavorOf(status);
  const version = status.kerasVersion ? `Keras ${status.kerasVersion}` : "Keras";
  return flavor ? `${version} (${flavor})` : version;
}

/** What the tooltip says of the Keras worker, when the server says. */
export function workerLine(state: WorkerState | undefined): string | null {
  switch (state) {
    case "running":
      return "Keras worker: running";
    case "idle-exited":
      return "Keras worker: exited while idle (layercfg.workerIdleMinutes); the next deep check starts it";
    case "none":
      return "Keras worker: not started";
    default:
      return null;
  }
}

function deepCheckLine(state: DeepCheckState): string {
  switch (state) {
    case "running":
      return "Deep check: running";
    case "idle":
      return "Deep check: idle";
    case "off":
      return "Deep check: off";
  }
}

function catalogView(status: ServerStatus): { text: string; lines: string[]; level: StatusLevel } {
  switch (status.catalog) {
    case "missing":
      return {
        text: "$(circle-slash) layercfg: no catalog",
        lines: ["No Keras catalog yet: only JSON checks run.", ...(status.message ? [status.message] : [])],
        level: "warning",
      };
    case "building":
      return {
        text: "$(sync~spin) layercfg: building catalog",
        lines: ["Building the Keras catalog (schemas and docs)…", ...(status.message ? [status.message] : [])],
        level: "normal",
      };
    case "ready": {
      const backend = status.backend ? ` (${status.backend} backend)` : "";
      return {
        text: `$(check) layercfg: ${kerasLabel(status)}`,
        lines: [`Catalog ready: ${kerasLabel(status)}${backend}.`, ...(status.message ? [status.message] : [])],
        level: "normal",
      };
    }
    case "failed":
      return {
        text: `$(error) layercfg: ${status.message ? shorten(status.message) : "catalog failed"}`,
        lines: ["Building the Keras catalog failed.", ...(status.message ? [status.message] : [])],
        level: "error",
      };
  }
}

/** The status bar item for a client state. */
export function formatStatus(state: ClientState): StatusView {
  switch (state.kind) {
    case "stopped":
      return { text: "$(circle-slash) layercfg", tooltip: "The layercfg server is stopped.", level: "normal" };
    case "starting":
      return {
        text: "$(loading~spin) layercfg",
        tooltip: `Starting the layercfg server with ${state.interpreter}…\n${sourceLine(state.source)}`,
        level: "normal",
      };
    case "notInstalled":
      return { text: "$(warning) layercfg: not installed", tooltip: state.message, level: "warning" };
    case "failed":
      return {
        text: "$(error) layercfg: server failed",
        tooltip: `${state.message}\nInterpreter: ${state.interpreter}\n${sourceLine(state.source)}`,
        level: "error",
      };
    case "running": {
      if (!state.status) {
        // A server that never reports its catalog must not leave a spinner forever.
        return {
          text: "$(check) layercfg",
          tooltip: `layercfg server running (${state.interpreter}); no catalog status reported yet.\n${sourceLine(state.source)}`,
          level: "normal",
        };
      }
      const catalog = catalogView(state.status);
      const running = state.status.deepCheck === "running";
      const text = state.source ? `${catalog.text} · ${state.source}` : catalog.text;
      return {
        text: running ? `${text} $(loading~spin) deep check` : text,
        tooltip: [
          ...catalog.lines,
          deepCheckLine(state.status.deepCheck),
          ...(workerLine(state.status.worker) ? [workerLine(state.status.worker) as string] : []),
          `Interpreter: ${state.interpreter}`,
          sourceLine(state.source),
          "Click for the deep check, the catalog rebuild and more.",
        ].join("\n"),
        level: catalog.level,
      };
    }
  }
}
