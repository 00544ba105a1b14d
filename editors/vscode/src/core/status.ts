/**
 * The `layercfg/status` notification, read defensively, and the status bar text made from
 * it and from the client's own state. Pure: no `vscode` import.
 */

export type CatalogState = "missing" | "building" | "ready" | "failed";
export type DeepCheckState = "idle" | "running" | "off";

/** Params of the server → client notification `layercfg/status`. */
export interface ServerStatus {
  readonly catalog: CatalogState;
  readonly kerasVersion: string | null;
  readonly backend: string | null;
  readonly message: string | null;
  readonly deepCheck: DeepCheckState;
}

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
  };
}

/** The client's own view of the server process. */
export type ClientState =
  | { readonly kind: "starting"; readonly interpreter: string }
  | { readonly kind: "running"; readonly interpreter: string; readonly status?: ServerStatus | undefined }
  | { readonly kind: "notInstalled"; readonly interpreter: string; readonly message: string }
  | { readonly kind: "failed"; readonly interpreter: string; readonly message: string }
  | { readonly kind: "stopped" };

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
  return status.kerasVersion ? `Keras ${status.kerasVersion}` : "Keras";
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
        text: `$(check) ${kerasLabel(status)}`,
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
        tooltip: `Starting the layercfg server with ${state.interpreter}…`,
        level: "normal",
      };
    case "notInstalled":
      return { text: "$(warning) layercfg: not installed", tooltip: state.message, level: "warning" };
    case "failed":
      return {
        text: "$(error) layercfg: server failed",
        tooltip: `${state.message}\nInterpreter: ${state.interpreter}`,
        level: "error",
      };
    case "running": {
      if (!state.status) {
        // A server that never reports its catalog must not leave a spinner forever.
        return {
          text: "$(check) layercfg",
          tooltip: `layercfg server running (${state.interpreter}); no catalog status reported yet.`,
          level: "normal",
        };
      }
      const catalog = catalogView(state.status);
      const running = state.status.deepCheck === "running";
      return {
        text: running ? `${catalog.text} $(loading~spin) deep check` : catalog.text,
        tooltip: [...catalog.lines, deepCheckLine(state.status.deepCheck), `Interpreter: ${state.interpreter}`].join("\n"),
        level: catalog.level,
      };
    }
  }
}
