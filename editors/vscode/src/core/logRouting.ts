/**
 * Lines that vscode-languageclient and the server's stderr write, routed to the levels of a
 * VS Code LogOutputChannel: the channel prints the level and the time itself, so the
 * `[Error - 10:00:00]` prefix the client puts in front and the `WARNING:pygls...:` prefix of
 * Python's logging are taken off. Pure: no `vscode` import.
 */

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

export interface RoutedLine {
  readonly level: LogLevel;
  readonly message: string;
}

const CLIENT_PREFIX = /^\[(Trace|Debug|Info|Warn|Error|LSP)\s*-\s*[^\]]*\]\s?/;
const PYTHON_PREFIX = /^(DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]*:/;

const CLIENT_LEVELS: Record<string, LogLevel> = {
  Trace: "trace",
  LSP: "trace",
  Debug: "debug",
  Info: "info",
  Warn: "warn",
  Error: "error",
};

const PYTHON_LEVELS: Record<string, LogLevel> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warn",
  ERROR: "error",
  CRITICAL: "error",
};

/**
 * Noise that is normal in a VS Code session: VS Code cancels requests whose answers have
 * just been sent (pull diagnostics, hovers), and pygls logs each of those as a warning.
 */
const ROUTINE = [/Cancel notification for unknown message id/];

/** A line the client logged: its level from its prefix, the prefix taken off. */
export function routeClientLine(line: string): RoutedLine {
  const match = CLIENT_PREFIX.exec(line);
  if (match) {
    const message = line.slice(match[0].length);
    const level = CLIENT_LEVELS[match[1] ?? "Info"] ?? "info";
    return { level: isRoutine(message) ? "trace" : level, message };
  }
  return { level: isRoutine(line) ? "trace" : "info", message: line };
}

/** A line of the server's stderr: Python's logging prefix read and taken off. */
export function routeStderrLine(line: string): RoutedLine {
  const match = PYTHON_PREFIX.exec(line);
  const message = match ? line.slice(match[0].length).trimStart() : line;
  const level = match ? (PYTHON_LEVELS[match[1] ?? "INFO"] ?? "info") : "info";
  return { level: isRoutine(message) ? "trace" : level, message };
}

function isRoutine(message: string): boolean {
  return ROUTINE.some((pattern) => pattern.test(message));
}

/**
 * Joins text that arrives in pieces (`append`) into whole lines; `push` returns the lines
 * completed by a piece, `flush` what is left.
 */
export class LineBuffer {
  private pending = "";

  push(text: string): string[] {
    this.pending += text;
    const lines = this.pending.split(/\r?\n/);
    this.pending = lines.pop() ?? "";
    return lines.filter((line) => line.trim() !== "");
  }

  flush(): string[] {
    const rest = this.pending;
    this.pending = "";
    return rest.trim() === "" ? [] : [rest];
  }
}
