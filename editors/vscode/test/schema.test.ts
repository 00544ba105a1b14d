import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { schemaDocumentText } from "../src/core/schema";

describe("schemaDocumentText", () => {
  test("a JSON string is pretty-printed", () => {
    assert.equal(schemaDocumentText('{"$schema":"x","type":"object"}'), '{\n  "$schema": "x",\n  "type": "object"\n}\n');
  });
  test("an object is accepted", () => {
    assert.equal(schemaDocumentText({ a: 1 }), '{\n  "a": 1\n}\n');
  });
  test("text that is not JSON is shown as is", () => {
    assert.equal(schemaDocumentText("not json"), "not json");
  });
  test("nothing is an error", () => {
    assert.throws(() => schemaDocumentText(null), /no schema/);
    assert.throws(() => schemaDocumentText(undefined), /no schema/);
    assert.throws(() => schemaDocumentText(3), /number/);
  });
});
