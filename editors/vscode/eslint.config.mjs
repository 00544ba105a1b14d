// Lint settings: type-aware typescript-eslint rules; the pure modules in src/core may not
// import `vscode`, so that `npm test` can run them with Node alone.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["out/**", "node_modules/**", "*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/explicit-module-boundary-types": "error",
      eqeqeq: ["error", "always"],
      curly: "error",
    },
  },
  {
    // node:test's describe() and test() return promises that the runner itself awaits.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-floating-promises": "off" },
  },
  {
    files: ["src/core/**/*.ts", "test/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "vscode", message: "Pure modules must run under plain Node (npm test)." },
            {
              name: "vscode-languageclient",
              message: "Pure modules must run under plain Node (npm test).",
            },
            {
              name: "vscode-languageclient/node",
              message: "Pure modules must run under plain Node (npm test).",
            },
          ],
        },
      ],
    },
  },
);
