import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseEndpoint, parseSize, tryParseDuration, tryParseSize } from '../../src/config/units.js';

describe('parseDuration', () => {
  const valid: Array<[string, number]> = [
    ['200ms', 200],
    ['5s', 5_000],
    ['1m30s', 90_000],
    ['1.5s', 1_500],
    ['0', 0],
    ['250us', 0.25],
    ['2h', 7_200_000],
    ['1500ns', 0.0015],
    ['7d', 604_800_000],
    ['1d12h', 129_600_000],
  ];
  for (const [text, ms] of valid) {
    it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
      assert.equal(tryParseDuration(text), ms);
    });
  }

  const invalid = ['', '5', 'ms', '5x', '-1s', '5s ', '1m30', 's5'];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(tryParseDuration(text), null);
      assert.throws(() => parseDuration(text), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /is not a duration like 200ms/);
        return true;
      });
    });
  }
});

describe('tryParseSize / parseSize', () => {
  const valid: Array<[string | number, number]> = [
    ['64MiB', 64 * 1024 * 1024],
    ['512KB', 512_000],
    ['1GiB', 1024 ** 3],
    [4096, 4096],
    ['4096', 4096],
    ['10 MB', 10_000_000],
    ['2kib', 2048],
    [0, 0],
  ];
  for (const [value, bytes] of valid) {
    it(`reads ${JSON.stringify(value)} as ${bytes} bytes`, () => {
      assert.equal(tryParseSize(value), bytes);
      assert.equal(parseSize(value), bytes);
    });
  }

  const invalid: Array<string | number> = ['lots', '-1', -1, '', '5 parsecs', Number.NaN, Number.POSITIVE_INFINITY];
  for (const value of invalid) {
    it(`rejects ${String(value)}`, () => {
      assert.equal(tryParseSize(value), null);
      assert.throws(() => parseSize(value), RangeError);
    });
  }
});

describe('parseEndpoint', () => {
  const valid: Array<[string, { host: string; port: number }]> = [
    ['127.0.0.1:4317', { host: '127.0.0.1', port: 4317 }],
    [':8888', { host: '127.0.0.1', port: 8888 }],
    ['[::1]:4317', { host: '::1', port: 4317 }],
    ['localhost:4318', { host: 'localhost', port: 4318 }],
  ];
  for (const [text, expected] of valid) {
    it(`splits ${text}`, () => {
      assert.deepEqual(parseEndpoint(text), expected);
    });
  }

  for (const text of ['localhost', '127.0.0.1', 'host:port', '::1:4317', '']) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseEndpoint(text), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /is not host:port/);
        return true;
      });
    });
  }
});
