import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeStrings } from '../../src/exporters/parquet/utf8.js';

const decode = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString('utf8'));

describe('encodeStrings (UTF-8 for a row group column)', () => {
  const values = ['abc', null, '', 'café ☕', 'abc', '🚀 x', null, 'z', 'café ☕'];
  for (const dedupe of [true, false]) {
    it(`encodes ASCII and non-ASCII, empty and null values exactly (dedupe: ${dedupe})`, () => {
      const out = encodeStrings(values, dedupe);
      assert.deepEqual(out.map(decode), values);
      assert.deepEqual(out.map((v) => v?.length ?? null), values.map((v) => (v === null ? null : Buffer.byteLength(v))));
      assert.equal(out[0] === out[4], dedupe, 'equal strings share one view only with dedupe');
    });
  }

  it('cuts an all-ASCII column into views of one buffer', () => {
    const out = encodeStrings(['one', 'two', 'three'], false);
    assert.deepEqual(out.map(decode), ['one', 'two', 'three']);
    assert.ok(out.every((v) => v?.buffer === out[0]?.buffer));
  });
});
