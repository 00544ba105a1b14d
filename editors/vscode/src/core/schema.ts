/**
 * The answer of `layercfg.showSchema` turned into the text of a JSON editor. The contract
 * says the server returns the schema as a JSON string; an object is accepted too.
 * Pure: no `vscode` import.
 */

export function schemaDocumentText(result: unknown): string {
  if (result === null || result === undefined) {
    throw new Error("the server returned no schema");
  }
  if (typeof result === "string") {
    try {
      return `${JSON.stringify(JSON.parse(result), null, 2)}\n`;
    } catch {
      // Not JSON after all: show it as it came, which is more useful than an error.
      return result;
    }
  }
  if (typeof result === "object") {
    return `${JSON.stringify(result, null, 2)}\n`;
  }
  throw new Error(`the server returned a ${typeof result} instead of a schema`);
}
