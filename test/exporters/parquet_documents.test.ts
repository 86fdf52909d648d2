/**
 * A batch's attribute documents made with one JSON.stringify
 * (parquet/documents.ts): every path — the separator search (any text), the
 * byte scan (a document holding the separator itself), and the
 * per-item path (bytes, a BigInt, a lone surrogate) — gives each item exactly
 * the text JSON.stringify gives it alone, and a problem only to the items
 * that have one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { batchDocuments, packArrayElements, type BatchDocuments } from '../../src/exporters/parquet/documents.js';
import { EMPTY_ATTRIBUTES } from '../../src/archive/event_keys.js';
import { jsonText } from '../../src/archive/tables.js';
import type { AttributeValue } from '../../src/model/types.js';

const decoder = new TextDecoder();
const texts = (d: BatchDocuments): string[] =>
  Array.from({ length: d.offsets.length - 1 }, (_, i) => decoder.decode(d.bytes.subarray(d.offsets[i], d.offsets[i + 1])));

function documents(docs: AttributeValue[]): BatchDocuments {
  return batchDocuments(docs, (d) => d);
}

/** Trace-port-shaped attribute maps: rendered terms full of quotes, braces and commas. */
function shaped(n: number, extra: (i: number) => Record<string, AttributeValue> = () => ({})): AttributeValue[] {
  return Array.from({ length: n }, (_, i) => ({
    'beam.message': `{'$gen_call',{<0.${i}.0>,#Ref<0.1.2.${i}>},{add,<<"sku-${i}">>,#{a => [1,2]}}}`,
    'beam.message.kind': 'call', n: i, ratio: i / 7, ok: i % 2 === 0, list: ['a', i, null, { deep: [i] }], ...extra(i),
  }));
}

describe('parquet exporter: a batch\'s documents as JSON text', () => {
  it('ASCII documents (the separator search): each item\'s text is JSON.stringify\'s', () => {
    const docs = shaped(5000);
    const out = documents(docs);
    assert.equal(out.problems, undefined);
    assert.deepEqual(texts(out), docs.map((d) => JSON.stringify(d)));
  });

  it('non-ASCII documents (the separator search in UTF-8) and documents holding the separator (the byte scan): the same texts', () => {
    const nonAscii = shaped(300, (i) => ({ name: `Zoë ${i} — 東京 🚀` }));
    assert.deepEqual(texts(documents(nonAscii)), nonAscii.map((d) => JSON.stringify(d)));
    const withSeparator = shaped(300, (i): Record<string, AttributeValue> => (i % 50 === 0 ? { list: ['x', '\x7f\x7f', 'y'], other: '\x7f\x7f' } : {}));
    assert.deepEqual(texts(documents(withSeparator)), withSeparator.map((d) => JSON.stringify(d)));
    assert.deepEqual(texts(documents([{ a: 1 }])), ['{"a":1}']);
    assert.deepEqual(texts(documents([null, 'x', 3, [1, { b: '}],[{' }]])), ['null', '"x"', '3', '[1,{"b":"}],[{"}]']);
  });

  it('a document with bytes, a BigInt or a lone surrogate: a problem for that item alone, the others written', () => {
    const docs: AttributeValue[] = shaped(20);
    docs[3] = { raw: new Uint8Array([1, 2, 255]) };
    docs[7] = { text: 'lone \udc00 low surrogate' };
    (docs as unknown[])[11] = { big: 1n };
    const out = documents(docs);
    assert.deepEqual([...(out.problems?.keys() ?? [])].sort((a, b) => a - b), [7, 11]);
    assert.match(String(out.problems?.get(7)?.problem), /lone UTF-16 surrogate, which DuckDB's JSON reader rejects/);
    assert.match(String(out.problems?.get(11)?.problem), /cannot be encoded: .*BigInt/);
    const got = texts(out);
    for (let i = 0; i < docs.length; i++) {
      if (i === 7 || i === 11) assert.equal(got[i], '');
      else assert.equal(got[i], jsonText(docs[i]), `item ${i}`);
    }
    // Bytes as JSON lines writes them.
    assert.equal(got[3], '{"raw":{"$bytes":"AQL/"}}');
  });

  it('EMPTY_ATTRIBUTES (every key in its column) is written {} without serialising, between documents on every path', () => {
    const base = shaped(400);
    const withSeparator = shaped(400, (i): Record<string, AttributeValue> => (i % 50 === 0 ? { list: ['x', '\x7f\x7f'] } : {}));
    for (const docs of [base, withSeparator]) {
      // Runs of blanks at the start, between documents and at the end: the gathered text must never overtake what it reads.
      const mixed = docs.map((d, i) => (i < 30 || i % 3 !== 0 || i > 370 ? EMPTY_ATTRIBUTES : d));
      assert.deepEqual(texts(documents(mixed)), mixed.map((d) => JSON.stringify(d)));
    }
    assert.deepEqual(texts(documents(Array.from({ length: 5 }, () => EMPTY_ATTRIBUTES))), Array.from({ length: 5 }, () => '{}'));
    const problem = documents([EMPTY_ATTRIBUTES, { big: 1n } as unknown as AttributeValue, EMPTY_ATTRIBUTES, { a: 1 }]);
    assert.deepEqual([...(problem.problems?.keys() ?? [])], [1]);
    assert.deepEqual(texts(problem), ['{}', '', '{}', '{"a":1}']);
  });

  it('an empty batch, and text that is not an array of the count asked', () => {
    assert.equal(documents([]).offsets.length, 1);
    const bytes = new TextEncoder().encode('[1,2]');
    assert.equal(packArrayElements(bytes, 3, new Int32Array(4)), -1);
    assert.equal(packArrayElements(new TextEncoder().encode('[1,2]'), 2, new Int32Array(3)), 2);
  });
});
