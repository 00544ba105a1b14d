/** The extension manifest agrees with the code and with the server contract. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { DEFAULTS } from "../src/core/settings";

// Compiled to out/test/, so the extension folder is two levels up.
const root = path.resolve(__dirname, "..", "..");
const read = (name: string): string => fs.readFileSync(path.join(root, name), "utf8");

interface Manifest {
  main: string;
  activationEvents: string[];
  capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
  contributes: {
    languages: { id: string; filenamePatterns: string[]; configuration: string }[];
    grammars: { language: string; scopeName: string; path: string }[];
    configuration: {
      properties: Record<string, { default?: unknown; description?: string; markdownDescription?: string; enum?: string[]; scope?: string }>;
    };
    commands: { command: string; title: string }[];
    jsonValidation: { fileMatch: string; url: string }[];
  };
}

const manifest = JSON.parse(read("package.json")) as Manifest;
const properties = manifest.contributes.configuration.properties;

describe("package.json", () => {
  test("language layercfg-json for *.layercfg.json", () => {
    const language = manifest.contributes.languages.find((l) => l.id === "layercfg-json");
    assert.ok(language);
    assert.deepEqual(language.filenamePatterns, ["*.layercfg.json"]);
    assert.ok(manifest.activationEvents.includes("onLanguage:layercfg-json"));
  });

  test("the language configuration has JSON's pairs and no comments", () => {
    const configuration = JSON.parse(read("language-configuration.json")) as Record<string, unknown>;
    assert.ok(!("comments" in configuration), "Keras rejects comments, so there is nothing to toggle");
    assert.deepEqual(configuration.brackets, [["{", "}"], ["[", "]"]]);
  });

  test("the grammar embeds JSON's", () => {
    const grammar = manifest.contributes.grammars[0];
    assert.ok(grammar);
    const text = JSON.parse(read(grammar.path)) as { scopeName: string; patterns: { include: string }[] };
    assert.equal(text.scopeName, grammar.scopeName);
    assert.deepEqual(text.patterns, [{ include: "source.json" }]);
  });

  test("every server setting is contributed, described, with the contract's default", () => {
    const expected: Record<string, unknown> = { ...DEFAULTS, python: "", trustWorkspace: true };
    for (const [key, value] of Object.entries(expected)) {
      const property = properties[`layercfg.${key}`];
      assert.ok(property, `layercfg.${key} is contributed`);
      assert.ok(property.description ?? property.markdownDescription, `layercfg.${key} is described`);
      assert.deepEqual(property.default, value, `default of layercfg.${key}`);
    }
    assert.deepEqual(properties["layercfg.deepCheck"]?.enum, ["onType", "onSave", "off"]);
  });

  test("limited support in untrusted workspaces", () => {
    const untrusted = manifest.capabilities.untrustedWorkspaces;
    assert.equal(untrusted.supported, "limited");
    assert.ok(untrusted.restrictedConfigurations.includes("layercfg.python"));
  });

  test("contributed commands are the ones the extension registers", () => {
    const source = read("src/extension.ts");
    const registered = new Set(source.match(/"layercfg\.client\.\w+"/g)?.map((s) => s.slice(1, -1)));
    // The archive view's command is registered by src/archives.ts.
    for (const id of read("src/archives.ts").match(/OPEN_ARCHIVE = "(layercfg\.\w+)"/)?.slice(1) ?? []) {
      registered.add(id);
    }
    const contributed = new Set(manifest.contributes.commands.map((c) => c.command));
    assert.deepEqual([...contributed].sort(), [...registered].sort());
  });

  test("no contributed command clashes with a server command", () => {
    // vscode-languageclient registers the server's executeCommand ids as VS Code commands.
    for (const id of ["layercfg.deepCheck", "layercfg.rebuildCatalog", "layercfg.showSchema"]) {
      assert.ok(!manifest.contributes.commands.some((c) => c.command === id), id);
    }
  });

  test("main points at the esbuild bundle", () => {
    assert.equal(manifest.main, "./dist/extension.js");
    assert.ok(fs.existsSync(path.join(root, manifest.main)), manifest.main);
  });

  test("machine settings are machine-overridable (Remote settings in a remote window)", () => {
    assert.equal(properties["layercfg.python"]?.scope, "machine-overridable");
    assert.equal(properties["layercfg.serverSource"]?.scope, "machine-overridable");
    assert.deepEqual(properties["layercfg.serverSource"]?.enum, ["bundled", "environment"]);
    assert.equal(properties["layercfg.serverSource"]?.default, "bundled");
  });

  test("the exported schema checks *.layercfg.json as JSON when the server is not running", () => {
    assert.deepEqual(manifest.contributes.jsonValidation, [{ fileMatch: "*.layercfg.json", url: "./schemas/layercfg.schema.json" }]);
  });

  test("the .vsix leaves out node_modules and the sources, keeps the bundles", () => {
    const ignored = read(".vscodeignore").split(/\r?\n/).filter((line) => line && !line.startsWith("#"));
    for (const pattern of ["node_modules/**", "src/**", "out/**", "scripts/**"]) {
      assert.ok(ignored.includes(pattern), pattern);
    }
    for (const kept of ["dist", "bundled", "schemas"]) {
      assert.ok(!ignored.some((line) => line.startsWith(`${kept}/`) && line.endsWith("**")), kept);
    }
  });
});
