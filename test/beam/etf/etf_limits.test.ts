/**
 * Hostile and malformed input for the ETF decoder: every case must end in an
 * EtfError (never another exception type, a RangeError from the stack, a hang
 * or an unbounded allocation). Limits are shown to act before the work (where
 * the error is raised, what it says), not by timing; what the heavy inputs cost
 * is measured by `npm run bench -- etf-decode` (a hang still fails: the test
 * runner's timeout). Ends with a seeded fuzz loop over mutated real encodings.
 *
 * Needs no Erlang: the real encodings below were made once with
 * `term_to_binary/2` on OTP 25 (see SEED_TERMS for what each one is).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { decodeTerm, defaultEtfLimits, etfLimits, renderTerm, EtfError, ErlImproperList, type Term } from '../../../src/beam/etf.js';
import { prng } from '../../helpers.js';
import {
  DEEP, NODE, ZIP_BOMB_INFLATED, bytes, compressed, concat, deepTerms, manyBignums, nested, repeat, tailsAroundList, u16, u32, zipBomb,
} from './hostile_terms.js';

/**
 * term_to_binary(T, Opts) on OTP 25, as hex. In order:
 *  1. [{ok,1,-1,255,256,70000,-70000,1 bsl 40,-(1 bsl 70)}]
 *  2. {1.5,-0.0,5.0e-324,1.0e300}  [{minor_version,0}] (FLOAT_EXT)
 *  3. the same  [{minor_version,2}] (NEW_FLOAT_EXT)
 *  4. ['','hello world','über','😀','Elixir.Foo']  [{minor_version,1}]
 *  5. the same  [{minor_version,2}]
 *  6. [<<>>,<<1,2,3>>,<<1,2:3>>,"abc",[1|2],[a,b|c],{},{a,{b}}]
 *  7. #{a => 1,<<"k">> => [1.0],{t} => #{},3 => "x"}  [{minor_version,2}]
 *  8. a map of 34 integer keys
 *  9. list_to_tuple(lists:seq(1, 260)) (LARGE_TUPLE_EXT)
 * 10. {self(), Pid, Port, make_ref(), MonitorRef}
 * 11. [fun lists:map/2, fun() -> ok end, fun(X) -> X + Y end]
 * 12. lists:duplicate(50, {abc,<<"defg">>,1.25})  [compressed]
 * 13. {10^300, -10^700} (SMALL_BIG_EXT, LARGE_BIG_EXT)
 * 14. [lists:seq(1, 300), lists:seq(1, 20)] (LIST_EXT of integers, STRING_EXT)
 */
const SEED_TERMS_HEX = [
    '836C0000000168096400026F6B610162FFFFFFFF61FF6200000100620001117062FFFEEE906E06000000000000016E09010000000000000000406A',
    '83680463312E3530303030303030303030303030303030303030652B30300000000000632D302E3030303030303030303030303030303030303030652B30300000000063342E3934303635363435383431323436353434313737652D3332340000000063312E3030303030303030303030303030303035323530652B33303000000000',
    '836804463FF8000000000000468000000000000000460000000000000001467E37E43C8800759C',
    '836C0000000564000064000B68656C6C6F20776F726C64640004FC6265727704F09F988064000A456C697869722E466F6F6A',
    '836C000000057700770B68656C6C6F20776F726C647705C3BC6265727704F09F9880770A456C697869722E466F6F6A',
    '836C000000086D000000006D000000030102034D000000020301406B00036162636C00000001610161026C0000000264000161640001626400016368006802640001616801640001626A',
    '83740000000461036B0001787701616101680177017474000000006D000000016B6C00000001463FF00000000000006A',
    '83740000002261216121610C610C61176117611D611D611E611E611A611A611F611F610B610B61096109612061206122612261196119611C611C61066106610D610D61146114610F610F610E610E61026102610761076101610161086108610361036111611161166116611561156104610461186118610A610A611B611B61136113610561056112611261106110',
    '836900000104610161026103610461056106610761086109610A610B610C610D610E610F6110611161126113611461156116611761186119611A611B611C611D611E611F6120612161226123612461256126612761286129612A612B612C612D612E612F6130613161326133613461356136613761386139613A613B613C613D613E613F6140614161426143614461456146614761486149614A614B614C614D614E614F6150615161526153615461556156615761586159615A615B615C615D615E615F6160616161626163616461656166616761686169616A616B616C616D616E616F6170617161726173617461756176617761786179617A617B617C617D617E617F6180618161826183618461856186618761886189618A618B618C618D618E618F6190619161926193619461956196619761986199619A619B619C619D619E619F61A061A161A261A361A461A561A661A761A861A961AA61AB61AC61AD61AE61AF61B061B161B261B361B461B561B661B761B861B961BA61BB61BC61BD61BE61BF61C061C161C261C361C461C561C661C761C861C961CA61CB61CC61CD61CE61CF61D061D161D261D361D461D561D661D761D861D961DA61DB61DC61DD61DE61DF61E061E161E261E361E461E561E661E761E861E961EA61EB61EC61ED61EE61EF61F061F161F261F361F461F561F661F761F861F961FA61FB61FC61FD61FE61FF62000001006200000101620000010262000001036200000104',
    '8368055864000D6E6F6E6F6465406E6F686F73740000000900000000000000005864000D6E6F6E6F6465406E6F686F73740000004F00000000000000005964000D6E6F6E6F6465406E6F686F737400000000000000005A000364000D6E6F6E6F6465406E6F686F7374000000000003BE37D3D80002DF547C825A000364000D6E6F6E6F6465406E6F686F7374000000000003BE38D3D80002DF547C82',
    '836C00000003716400056C697374736400036D617061027000000049003522FC1BDD50F83928521220557E509A0000000100000000640005736565647361016201A917E05864000D6E6F6E6F6465406E6F686F73740000000900000000000000007000000049013522FC1BDD50F83928521220557E509A0000000200000000640005736565647361026201A917E05864000D6E6F6E6F6465406E6F686F73740000000900000000000000006A',
    '83500000051A789CCB61606030CA604E61604E4C4ACE0572585252D3D2DDECBF3080C1A8CCA8CCA8CCA8CCC893C90200898A1288',
    '8368026E7D000000000000000000000000000000000000000000000000000000000000000000000000000010DDF45209455DE142B4AE2E34B3A36FA3CD3F6E7A28B4F777C14BD0C8D267E0F8A8AE673BC9ADB356C86C0B9D9D9500C1485B3D8ABE4AF436D9524DE8DB71C5211CF90981454A6AD8AAD77C4CE1089CA59B7500883CE4176F000001230100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010397AA6FDB1A0E2C5FCDB8F0D7A5C30E2BE4ABB6C5150D3906C9F558E4C5883CD0B2BC8D7B75A807D54D4CD657DC3BBEC5AAB61A11D4F0EBFA436B7E03B65C515C29C51EC2852F8369B9BFBCBD77FC930A537DD320E4AAA8E6E5B10939A053AC2CFCB4D1BC79800E143A16F75715E789C7951FE15216BC1889E7A3BD695DE33051C77FE83D18062EB5F27169239D09D2E1EABFB8A31243AA95175EFA7B8DCC92087CFB63CA9ABA2A27E5FC024B52CB3942EF6F7FB712BC1779AA520123B91EEF2281EDD6312943E67C9C628',
    '836C000000026C0000012C610161026103610461056106610761086109610A610B610C610D610E610F6110611161126113611461156116611761186119611A611B611C611D611E611F6120612161226123612461256126612761286129612A612B612C612D612E612F6130613161326133613461356136613761386139613A613B613C613D613E613F6140614161426143614461456146614761486149614A614B614C614D614E614F6150615161526153615461556156615761586159615A615B615C615D615E615F6160616161626163616461656166616761686169616A616B616C616D616E616F6170617161726173617461756176617761786179617A617B617C617D617E617F6180618161826183618461856186618761886189618A618B618C618D618E618F6190619161926193619461956196619761986199619A619B619C619D619E619F61A061A161A261A361A461A561A661A761A861A961AA61AB61AC61AD61AE61AF61B061B161B261B361B461B561B661B761B861B961BA61BB61BC61BD61BE61BF61C061C161C261C361C461C561C661C761C861C961CA61CB61CC61CD61CE61CF61D061D161D261D361D461D561D661D761D861D961DA61DB61DC61DD61DE61DF61E061E161E261E361E461E561E661E761E861E961EA61EB61EC61ED61EE61EF61F061F161F261F361F461F561F661F761F861F961FA61FB61FC61FD61FE61FF6200000100620000010162000001026200000103620000010462000001056200000106620000010762000001086200000109620000010A620000010B620000010C620000010D620000010E620000010F6200000110620000011162000001126200000113620000011462000001156200000116620000011762000001186200000119620000011A620000011B620000011C620000011D620000011E620000011F6200000120620000012162000001226200000123620000012462000001256200000126620000012762000001286200000129620000012A620000012B620000012C6A6B00140102030405060708090A0B0C0D0E0F10111213146A',
];
const SEED_TERMS = SEED_TERMS_HEX.map((h) => new Uint8Array(Buffer.from(h, 'hex')));

function hex(b: Uint8Array, max = 120): string {
  const h = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, max)).toString('hex');
  return b.length <= max ? h : `${h}… (${b.length} bytes)`;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name} (${e.name}): ${e.message.slice(0, 200)}`;
  return `non-Error ${String(e)}`;
}

/** Decodes and renders; what happened, without throwing. */
interface Attempt {
  ok: boolean;
  text?: string;
  error?: unknown;
}

function attempt(buf: Uint8Array, limits?: Parameters<typeof decodeTerm>[1]): Attempt {
  let term: Term;
  try {
    term = decodeTerm(buf, limits);
  } catch (error) {
    return { ok: false, error };
  }
  let text: string;
  try {
    text = renderTerm(term);
  } catch (error) {
    // A decoded term that cannot be rendered is a bug too: report it as such.
    return { ok: false, error: new Error(`renderTerm threw on a decoded term: ${describe(error)}`) };
  }
  assert.equal(typeof text, 'string');
  return { ok: true, text };
}

function expectEtfError(label: string, buf: Uint8Array, limits?: Parameters<typeof decodeTerm>[1]): EtfError {
  let error: unknown;
  let decoded = false;
  try {
    decodeTerm(buf, limits);
    decoded = true;
  } catch (e) {
    error = e;
  }
  assert.ok(!decoded, `${label}: decoded without an error (input ${hex(buf)})`);
  assert.ok(error instanceof EtfError, `${label}: threw ${describe(error)} instead of an EtfError (input ${hex(buf)})`);
  return error;
}


test('the seed encodings are valid terms', () => {
  assert.equal(SEED_TERMS.length, 14);
  for (const [i, buf] of SEED_TERMS.entries()) {
    const r = attempt(buf);
    assert.ok(r.ok, `seed ${i + 1} (${hex(buf)}) failed: ${describe(r.error)}`);
  }
  assert.equal(renderTerm(decodeTerm(SEED_TERMS[0])), '[{ok,1,-1,255,256,70000,-70000,1099511627776,-1180591620717411303424}]');
  // Rendered as io_lib:format("~0tp") and Elixir's inspect/2 print them (both checked on OTP 25 / Elixir 1.14).
  const elixir = { syntax: 'elixir', elixirCharlists: 'quotes' } as const;
  assert.equal(renderTerm(decodeTerm(SEED_TERMS[4])), "['','hello world',über,'😀','Elixir.Foo']");
  assert.equal(renderTerm(decodeTerm(SEED_TERMS[4]), undefined, elixir), '[:"", :"hello world", :über, :"😀", Foo]');
  assert.equal(renderTerm(decodeTerm(SEED_TERMS[5])), '[<<>>,<<1,2,3>>,<<1,2:3>>,"abc",[1|2],[a,b|c],{},{a,{b}}]');
  assert.equal(renderTerm(decodeTerm(SEED_TERMS[5]), undefined, elixir), `["", <<1, 2, 3>>, <<1, 2::size(3)>>, 'abc', [1 | 2], [:a, :b | :c], {}, {:a, {:b}}]`);
  assert.equal(renderTerm(decodeTerm(SEED_TERMS[6])), '#{3 => "x",a => 1,{t} => #{},<<"k">> => [1.0]}');
  assert.equal(renderTerm(decodeTerm(SEED_TERMS[6]), undefined, elixir), `%{3 => 'x', :a => 1, {:t} => %{}, "k" => [1.0]}`);
});

test('wrong version byte, empty and too-short buffers', () => {
  expectEtfError('empty', new Uint8Array(0));
  expectEtfError('version only', bytes(131));
  expectEtfError('version 130', bytes(130, 97, 1));
  expectEtfError('version 0', bytes(0, 97, 1));
  expectEtfError('no version byte', bytes(97, 1));
  expectEtfError('version twice', bytes(131, 131, 97, 1));
  for (const [i, buf] of SEED_TERMS.entries()) {
    const wrong = Uint8Array.from(buf);
    wrong[0] = 132;
    expectEtfError(`seed ${i + 1} with version 132`, wrong);
  }
});

test('unknown tags and distribution-only tags', () => {
  const known = new Set([70, 77, 80, 88, 89, 90, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120]);
  for (let tag = 0; tag < 256; tag++) {
    const buf = bytes(131, tag, new Array<number>(40).fill(0));
    if (!known.has(tag)) expectEtfError(`unknown tag ${tag}`, buf);
    else {
      // Known tags over zero bytes: a value or an EtfError, nothing else.
      const r = attempt(buf);
      if (!r.ok) assert.ok(r.error instanceof EtfError, `tag ${tag} over zeros threw ${describe(r.error)}`);
    }
  }
  expectEtfError('ATOM_CACHE_REF', bytes(131, 82, 0));
  expectEtfError('DIST_HEADER', bytes(131, 68, 0));
  expectEtfError('LOCAL_EXT', bytes(131, 121, 97, 1));
  expectEtfError('unknown tag inside a list', bytes(131, 108, u32(2), 97, 1, 200, 106));
  expectEtfError('unknown tag as a map value', bytes(131, 116, u32(1), 97, 1, 0));
  expectEtfError('compressed tag nested inside a term', bytes(131, 108, u32(1), 80, u32(2), deflateSync(Buffer.from([97, 1])), 106));
});

test('atom lengths past the end of the buffer', () => {
  expectEtfError('ATOM_EXT 10 bytes, 2 present', bytes(131, 100, u16(10), 97, 98));
  expectEtfError('ATOM_EXT 65535 bytes, 1 present', bytes(131, 100, u16(65535), 97));
  expectEtfError('ATOM_EXT header cut', bytes(131, 100, 0));
  expectEtfError('ATOM_UTF8_EXT 65535 bytes', bytes(131, 118, u16(65535), 97));
  expectEtfError('SMALL_ATOM_EXT 5 bytes, 1 present', bytes(131, 115, 5, 97));
  expectEtfError('SMALL_ATOM_UTF8_EXT 200 bytes, none present', bytes(131, 119, 200));
  expectEtfError('SMALL_ATOM_UTF8_EXT, length missing', bytes(131, 119));
  expectEtfError('pid node atom past the end', bytes(131, 88, 100, u16(50), 97));
  expectEtfError('export function atom past the end', bytes(131, 113, 100, u16(1), 97, 100, u16(9), 98));
});

test('every prefix of a real encoding is an EtfError', () => {
  let checked = 0;
  for (const [i, buf] of SEED_TERMS.entries()) {
    for (let len = 0; len < buf.length; len++) {
      expectEtfError(`seed ${i + 1} cut to ${len} of ${buf.length} bytes`, buf.subarray(0, len));
      checked++;
    }
  }
  assert.ok(checked > 2000);
});

test('trailing bytes after the term are an EtfError', () => {
  for (const [i, buf] of SEED_TERMS.entries()) {
    expectEtfError(`seed ${i + 1} + one byte`, bytes(buf, 0));
    expectEtfError(`seed ${i + 1} + another term`, bytes(buf, 97, 1));
  }
});

test('length headers claiming far more than the buffer holds', () => {
  const cases: Array<[string, Uint8Array]> = [
    ['LIST_EXT of 2^32-1 elements', bytes(131, 108, u32(0xffffffff), 97, 1, 97, 2, 106)],
    ['LIST_EXT of 2^31 elements', bytes(131, 108, u32(0x80000000), 97, 1, 106)],
    ['LIST_EXT of 2^32-1 elements, nothing after', bytes(131, 108, u32(0xffffffff))],
    ['LIST_EXT of 1000 elements, 2 present', bytes(131, 108, u32(1000), 97, 1, 97, 2, 106)],
    ['LARGE_TUPLE_EXT of 2^32-1 elements', bytes(131, 105, u32(0xffffffff), 97, 1)],
    ['LARGE_TUPLE_EXT of 2^28 elements', bytes(131, 105, u32(1 << 28), 106, 106, 106)],
    ['SMALL_TUPLE_EXT of 255 elements, 1 present', bytes(131, 104, 255, 106)],
    ['MAP_EXT of 2^32-1 pairs', bytes(131, 116, u32(0xffffffff), 97, 1, 97, 2)],
    ['MAP_EXT of 2^31 pairs', bytes(131, 116, u32(0x80000000), 106, 106)],
    ['MAP_EXT of 2^27 pairs, nothing after', bytes(131, 116, u32(1 << 27))],
    ['STRING_EXT of 65535 bytes, 3 present', bytes(131, 107, u16(65535), 1, 2, 3)],
    ['BINARY_EXT of 2^32-1 bytes', bytes(131, 109, u32(0xffffffff), 1, 2, 3)],
    ['BINARY_EXT of 2^31 bytes', bytes(131, 109, u32(0x80000000))],
    ['BIT_BINARY_EXT of 2^32-1 bytes', bytes(131, 77, u32(0xffffffff), 3, 1, 2)],
    ['NEW_FUN_EXT with 2^32-1 free variables', bytes(131, 112, u32(200), 1, new Array<number>(16).fill(0), u32(0), u32(0xffffffff), 119, 1, 109, 97, 0, 97, 0, 88, NODE, u32(1), u32(0), u32(0))],
    ['NEW_FUN_EXT with a size of 2^32-1', bytes(131, 112, u32(0xffffffff), 1, new Array<number>(16).fill(0), u32(0), u32(0), 119, 1, 109, 97, 0, 97, 0)],
    ['NEWER_REFERENCE_EXT with 65535 id words', bytes(131, 90, u16(65535), NODE, u32(0), u32(1), u32(2))],
    ['FUN_EXT with 2^32-1 free variables', bytes(131, 117, u32(0xffffffff), 88, NODE, u32(1), u32(0), u32(0), 119, 1, 109, 97, 0, 97, 0)],
  ];
  // Refused at the header (with its node atom, at most 24 bytes here), before anything it claims is allocated.
  for (const [label, buf] of cases) {
    const e = expectEtfError(label, buf);
    assert.ok(e.offset <= 24, `${label}: refused at byte ${e.offset}, past its header`);
  }
});

test(`${DEEP} chained list tails are one flat list, read without recursion`, () => {
  // [1|[1|[1|...]]] is how a hand-made encoder may write a plain list: Erlang decodes it, and so must we.
  const proper = nested([108, ...u32(1), 97, 1], [106], [], DEEP);
  const list = decodeTerm(proper);
  assert.ok(Array.isArray(list));
  assert.equal((list as number[]).length, DEEP);
  const improper = decodeTerm(nested([108, ...u32(1), 97, 1], [97, 2], [], DEEP));
  assert.ok(improper instanceof ErlImproperList);
  assert.equal(improper.elements.length, DEEP);
  assert.equal(improper.tail, 2);
});

test(`nesting ${DEEP} levels deep is an EtfError, not a stack overflow`, () => {
  const failures: string[] = [];
  for (const [label, buf] of deepTerms()) {
    try {
      expectEtfError(`${DEEP} nested ${label}`, buf);
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  assert.deepEqual(failures, []);
});

test('nesting with a depth limit raised past the stack: a value or an EtfError, never a RangeError', () => {
  const failures: string[] = [];
  for (const [label, buf] of deepTerms()) {
    const r = attempt(buf, { maxDepth: 10_000_000 });
    if (!r.ok && !(r.error instanceof EtfError)) failures.push(`${DEEP} nested ${label} with maxDepth 10M threw ${describe(r.error)}`);
  }
  assert.deepEqual(failures, []);
});

test('the depth limit is honoured either side', () => {
  const tuples = (n: number): Uint8Array => nested([104, 1], [106], [], n);
  const lists = (n: number): Uint8Array => nested([108, ...u32(1)], [106], [106], n);
  assert.equal(renderTerm(decodeTerm(tuples(40), { maxDepth: 50 })), '{'.repeat(40) + '[]' + '}'.repeat(40));
  assert.equal(renderTerm(decodeTerm(lists(40), { maxDepth: 50 })), '['.repeat(40) + '[]' + ']'.repeat(40));
  expectEtfError('60 nested tuples, maxDepth 50', tuples(60), { maxDepth: 50 });
  expectEtfError('60 nested lists, maxDepth 50', lists(60), { maxDepth: 50 });
  // Default limits: a modest depth must decode.
  assert.equal(renderTerm(decodeTerm(tuples(100))), '{'.repeat(100) + '[]' + '}'.repeat(100));
});

test('list tails nested to the depth limit around a long list', () => {
  // [1|[1|[1|...[0,0,0,...]]]] with the tails as separate LIST_EXTs: a decoder that copies the inner
  // list into every level does depth x length work (the etf-decode benchmark times this input).
  const r = attempt(tailsAroundList(200, 500_000));
  if (!r.ok) assert.ok(r.error instanceof EtfError, `threw ${describe(r.error)}`);
  else assert.ok(r.text?.startsWith('[1,1,1,') && r.text.endsWith(',0,0]'));
});

test('bignums with huge byte counts', () => {
  expectEtfError('LARGE_BIG_EXT n = 2^31', bytes(131, 111, u32(0x80000000), 0, 1, 2, 3, 4, 5, 6, 7, 8));
  expectEtfError('LARGE_BIG_EXT n = 2^32-1, negative', bytes(131, 111, u32(0xffffffff), 1, 1, 2, 3));
  expectEtfError('LARGE_BIG_EXT n = 2^31, nothing after', bytes(131, 111, u32(0x80000000), 0));
  expectEtfError('LARGE_BIG_EXT header cut', bytes(131, 111, 0, 0));
  expectEtfError('SMALL_BIG_EXT n = 255, 3 bytes present', bytes(131, 110, 255, 0, 1, 2, 3));
  expectEtfError('SMALL_BIG_EXT sign missing', bytes(131, 110, 1));
  // An explicit limit, either side.
  const big = (n: number): Uint8Array => bytes(131, 111, u32(n), 0, new Array<number>(n).fill(0xab));
  assert.match(renderTerm(decodeTerm(big(100), { maxBignumBytes: 100 })), /^[1-9][0-9]{240}$/);
  expectEtfError('101-byte bignum with maxBignumBytes 100', big(101), { maxBignumBytes: 100 });
  // Many large bignums in one term (the etf-decode benchmark times this input).
  const text = renderTerm(decodeTerm(manyBignums(200, 4000)));
  assert.ok(text.startsWith('[-'));
  assert.equal(text.split(',').length, 200);
});


test('compressed terms whose declared size lies, and zip bombs', () => {
  const seed = SEED_TERMS[11];
  assert.equal(seed[1], 80, 'seed 12 is compressed');
  const inner = new Uint8Array(inflateSync(seed.subarray(6)));
  assert.equal(inner.length, Buffer.from(seed.subarray(2, 6)).readUInt32BE(0));
  const expected = renderTerm(decodeTerm(seed));
  assert.equal(renderTerm(decodeTerm(compressed(inner))), expected, 'recompressed seed');

  for (const declared of [0, 1, inner.length - 1, Math.floor(inner.length / 2)]) {
    expectEtfError(`declared ${declared} bytes, actually ${inner.length}`, compressed(inner, declared));
  }
  for (const declared of [inner.length + 1, inner.length * 2, 60_000_000]) {
    expectEtfError(`declared ${declared} bytes, actually ${inner.length}`, compressed(inner, declared));
  }
  expectEtfError('declared 2^32-1 bytes', compressed(inner, 0xffffffff));
  expectEtfError('zlib stream cut short', seed.subarray(0, seed.length - 5));
  expectEtfError('zlib stream missing', bytes(131, 80, u32(10)));
  expectEtfError('size header cut', bytes(131, 80, 0, 0));
  expectEtfError('not a zlib stream', bytes(131, 80, u32(10), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
  expectEtfError('compressed inner term is truncated', compressed(inner.subarray(0, inner.length - 3)));
  expectEtfError('compressed inner term has trailing bytes', compressed(bytes(inner, 97, 1)));
  expectEtfError('compressed inner term is itself compressed', compressed(bytes(80, u32(2), deflateSync(Buffer.from([97, 1])))));
  expectEtfError('compressed inner term has a version byte', compressed(bytes(131, inner)));

  // A bomb: a 32 MiB binary of zeros, about 32 kB compressed. Each lie is caught before the 32 MiB exist:
  // refused at the header, or zlib stopped at the declared size (its error, not the inflated length).
  const limits = { maxUncompressedBytes: 1024 * 1024 };
  const refused = (label: string, buf: Uint8Array, lim: typeof limits | undefined, why: RegExp): void => {
    assert.match(expectEtfError(label, buf, lim).message, why, label);
  };
  refused('bomb, declared size over the limit', zipBomb(ZIP_BOMB_INFLATED), limits, /inflates to 33554437 bytes, over the limit/);
  refused('bomb, declared 2^32-1', zipBomb(0xffffffff), undefined, /declares 4294967295 bytes, more than \d+ compressed bytes can hold/);
  refused('bomb, declared 2^32-1 with a 1 MB limit', zipBomb(0xffffffff), limits, /more than \d+ compressed bytes can hold/);
  refused('bomb, declared size a small lie under the limit', zipBomb(1000), limits, /inflates past its declared 1000 bytes/);
  refused('bomb, declared size just under the limit', zipBomb(1024 * 1024), limits, /inflates past its declared 1048576 bytes/);
  // Within an explicit limit the real size decodes.
  const ok = decodeTerm(zipBomb(ZIP_BOMB_INFLATED), { maxUncompressedBytes: 64 * 1024 * 1024 });
  assert.ok(ok instanceof Uint8Array && ok.length === 32 * 1024 * 1024);
});

/** The EtfError a decode throws, or a failed assertion when it decodes or throws something else. */
function etfError(label: string, buf: Uint8Array, limits?: Parameters<typeof decodeTerm>[1]): EtfError {
  try {
    decodeTerm(buf, limits);
  } catch (e) {
    assert.ok(e instanceof EtfError, `${label}: threw ${describe(e)}`);
    return e;
  }
  assert.fail(`${label}: decoded without an error`);
}

test('maxTerms counts every term, list tails and charlist elements alike, and is honoured either side', () => {
  const ints = (n: number): number[] => Array.from({ length: n }, (_, i) => [97, i & 255]).flat();
  const cases: Array<[string, Uint8Array, number]> = [
    ['an integer', bytes(131, 97, 1), 1],
    ['[]', bytes(131, 106), 1],
    ['a list of 10 integers: the list, 10 elements, its tail', bytes(131, 108, u32(10), ints(10), 106), 12],
    ['an improper list [1|2]', bytes(131, 108, u32(1), 97, 1, 97, 2), 3],
    ['a list whose tail is a list, chained', bytes(131, 108, u32(2), 97, 1, 97, 2, 108, u32(1), 97, 3, 106), 6],
    ['a charlist of 100 (STRING_EXT)', bytes(131, 107, u16(100), new Array<number>(100).fill(65)), 101],
    ['a tuple of 5 empty tuples', bytes(131, 104, 5, [104, 0, 104, 0, 104, 0, 104, 0, 104, 0]), 6],
    ['a map of 3 pairs', bytes(131, 116, u32(3), ints(6)), 7],
    ['a list of 3 pids (node atoms are not terms)', bytes(131, 108, u32(3), ...[0, 1, 2].map(() => [88, ...NODE, ...u32(1), ...u32(0), ...u32(0)]), 106), 5],
    ['a fun with two free variables', bytes(131, 112, u32(0), 2, new Array<number>(16).fill(0), u32(0), u32(2), 119, 1, 109, 97, 0, 97, 0, 88, NODE, u32(1), u32(0), u32(0), 97, 1, 106), 4],
    ['an old FUN_EXT with one free variable (its module, index and uniq charged too)', bytes(131, 117, u32(1), 88, NODE, u32(1), u32(0), u32(0), 119, 1, 109, 97, 0, 97, 0, 97, 7), 6],
    ['an export', bytes(131, 113, 119, 1, 109, 119, 1, 102, 97, 2), 1],
  ];
  for (const [label, buf, count] of cases) {
    assert.ok(count <= buf.length - 1, `${label}: a term takes at least a byte`);
    assert.doesNotThrow(() => decodeTerm(buf, { maxTerms: count }), `${label}: ${count} terms within maxTerms ${count}`);
    const e = etfError(label, buf, { maxTerms: count - 1 });
    assert.equal(e.reason, 'term_limit', `${label} over maxTerms ${count - 1}: ${e.message}`);
    // Inside a compressed term, the same count.
    const inner = buf.subarray(1);
    assert.doesNotThrow(() => decodeTerm(compressed(inner), { maxTerms: count }), `${label}, compressed`);
    assert.equal(etfError(`${label}, compressed`, compressed(inner), { maxTerms: count - 1 }).reason, 'term_limit');
  }
  // The seeds: the smallest maxTerms that decodes each is consistent with one more term refused.
  for (const [i, seed] of SEED_TERMS.entries()) {
    let lo = 1;
    let hi = 1_000_000; // a compressed seed holds more terms than it has bytes
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (attempt(seed, { maxTerms: mid }).ok) hi = mid;
      else lo = mid + 1;
    }
    assert.ok(attempt(seed, { maxTerms: lo }).ok, `seed ${i + 1}`);
    if (lo > 1) assert.equal(etfError(`seed ${i + 1}`, seed, { maxTerms: lo - 1 }).reason, 'term_limit');
  }
  assert.equal(defaultEtfLimits.maxTerms, 1_000_000);
});

test('a bomb of a million tiny terms is counted and refused before any of them is built', () => {
  const n = 1_200_000;
  const tuples = bytes(131, 108, u32(n), repeat([104, 0], n), 106); // 2.4 MB: 1.2 M empty tuples, within every length limit
  const refs = bytes(131, 108, u32(n), repeat([90, 0, 1, 119, 1, 97, 0, 0, 0, 1, 0, 0, 0, 7], n), 106); // 17 MB of references
  for (const [label, buf] of [['empty tuples', tuples], ['references', refs], ['empty tuples, compressed', compressed(tuples.subarray(1))]] as const) {
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().heapUsed;
    const e = etfError(label, buf);
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(e.reason, 'term_limit');
    assert.match(e.message, /more than 1000000 terms/);
    // Decoding them would take 70–130 MB of heap; the count takes none.
    assert.ok(grown < 8 * 1024 * 1024, `${label}: the heap grew ${(grown / 1048576).toFixed(1)} MiB while refusing`);
  }
  // Under a raised limit the same input decodes: the count refused it, nothing else.
  const list = decodeTerm(tuples, { maxTerms: n + 2 });
  assert.ok(Array.isArray(list) && list.length === n);
});

test('errors say why: malformed input, or a valid term over a limit (term_limit)', () => {
  const reason = (label: string, buf: Uint8Array, limits?: Parameters<typeof decodeTerm>[1]): string => etfError(label, buf, limits).reason;
  // Malformed: what no encoder writes.
  assert.equal(reason('truncated', bytes(131, 108, u32(3), 97, 1)), 'malformed');
  assert.equal(reason('unknown tag', bytes(131, 200)), 'malformed');
  assert.equal(reason('a list longer than its bytes', bytes(131, 108, u32(0xffffffff), 97, 1, 106)), 'malformed');
  assert.equal(reason('a bignum longer than its bytes', bytes(131, 111, u32(0x80000000), 0, 1, 2)), 'malformed');
  const zeros = new Uint8Array(5 + 1_000_000);
  zeros.set([109, ...u32(1_000_000)]);
  assert.equal(reason('a compressed term that inflates past its declared size', compressed(zeros, 1000)), 'malformed');
  assert.equal(reason('a declared size no deflate stream of these bytes can reach', compressed(bytes(97, 1), 50_000_000)), 'malformed');
  // Over a limit: valid terms too big to take.
  assert.equal(reason('a list over maxListLength', bytes(131, 108, u32(5), ints5(), 106), { maxListLength: 4 }), 'term_limit');
  assert.equal(reason('a map over maxMapSize', bytes(131, 116, u32(2), 97, 1, 97, 2, 97, 3, 97, 4), { maxMapSize: 1 }), 'term_limit');
  assert.equal(reason('a bignum over maxBignumBytes', bytes(131, 111, u32(20), 0, new Array<number>(20).fill(1)), { maxBignumBytes: 16 }), 'term_limit');
  assert.equal(reason('nested past maxDepth', nested([104, 1], [106], [], 20), { maxDepth: 10 }), 'term_limit');
  assert.equal(reason('a compressed term declaring more than maxUncompressedBytes', compressed(zeros), { maxUncompressedBytes: 100_000 }), 'term_limit');
  assert.equal(reason('more terms than maxTerms', bytes(131, 108, u32(5), ints5(), 106), { maxTerms: 3 }), 'term_limit');
});

function ints5(): number[] {
  return [97, 1, 97, 2, 97, 3, 97, 4, 97, 5];
}

test('etfLimits(): limits resolved once are used as given, and are the decoder\'s defaults for what they leave out', () => {
  const limits = etfLimits({ maxTerms: 4, maxUncompressedBytes: 1024 });
  assert.equal(limits.maxDepth, defaultEtfLimits.maxDepth);
  assert.ok(Object.isFrozen(limits));
  assert.doesNotThrow(() => decodeTerm(bytes(131, 104, 3, 97, 1, 97, 2, 97, 3), limits));
  assert.equal(etfError('five terms', bytes(131, 104, 4, 97, 1, 97, 2, 97, 3, 97, 4), limits).reason, 'term_limit');
  const zeros = new Uint8Array(5 + 2000);
  zeros.set([109, ...u32(2000)]);
  assert.equal(etfError('2005 bytes inflated', compressed(zeros), limits).reason, 'term_limit');
});

// ---------------------------------------------------------------------------
// Fuzzing


const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 97, 104, 106, 108, 116, 80, 131];

function mutate(rand: () => number, pool: Uint8Array[]): Uint8Array {
  const int = (n: number): number => Math.floor(rand() * n);
  const base = pool[int(pool.length)];
  const b = Uint8Array.from(base);
  switch (int(8)) {
    case 0: { // flip a few random bytes
      for (let k = 1 + int(4); k > 0; k--) b[1 + int(b.length - 1)] = int(256);
      return b;
    }
    case 1: { // interesting values at random places (lengths, tags)
      for (let k = 1 + int(3); k > 0; k--) b[1 + int(b.length - 1)] = INTERESTING[int(INTERESTING.length)];
      return b;
    }
    case 2: { // flip single bits
      for (let k = 1 + int(6); k > 0; k--) b[1 + int(b.length - 1)] ^= 1 << int(8);
      return b;
    }
    case 3: // truncate
      return b.subarray(0, int(b.length));
    case 4: { // splice: a prefix of one encoding and a suffix of another
      const other = pool[int(pool.length)];
      return bytes(b.subarray(0, 1 + int(b.length)), other.subarray(1 + int(other.length - 1)));
    }
    case 5: { // insert random bytes
      const at = 1 + int(b.length);
      return bytes(b.subarray(0, at), Array.from({ length: 1 + int(8) }, () => int(256)), b.subarray(at));
    }
    case 6: { // delete a chunk
      const at = 1 + int(b.length - 1);
      return bytes(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(8))));
    }
    default: { // duplicate a chunk (repeats headers and nesting)
      const at = 1 + int(b.length - 1);
      const len = 1 + int(Math.min(16, b.length - at));
      return bytes(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
    }
  }
}

/** Repeats a short chunk tens of thousands of times: deep nesting and long runs of headers. */
function stutter(rand: () => number, b: Uint8Array): Uint8Array {
  if (b.length < 2) return b;
  const at = 1 + Math.floor(rand() * (b.length - 1));
  const len = 1 + Math.floor(rand() * Math.min(6, b.length - at));
  const times = 10_000 + Math.floor(rand() * 50_000);
  return concat([b.subarray(0, at), repeat([...b.subarray(at, at + len)], times), b.subarray(at)]);
}

/** Mutations underneath compression: mutate the inflated bytes, then compress them properly again. */
function mutateCompressed(rand: () => number, pool: Uint8Array[]): Uint8Array {
  const m = mutate(rand, pool);
  const inner = m.subarray(1);
  const declared = rand() < 0.8 ? inner.length : Math.floor(rand() * 2 * inner.length);
  return compressed(inner, declared, 1);
}

function fuzz(seed: number, iterations: number): void {
  const rand = prng(seed);
  const pool: Uint8Array[] = SEED_TERMS.filter((b) => b[1] !== 80);
  // Include the uncompressed body of the compressed seed, for splicing.
  pool.push(bytes(131, inflateSync(SEED_TERMS[11].subarray(6))));
  const failures: string[] = [];
  let failed = 0;
  let decoded = 0;
  for (let i = 0; i < iterations; i++) {
    let input = i % 5 === 4 ? mutateCompressed(rand, pool) : mutate(rand, pool);
    if (i % 50 === 0) input = mutate(rand, [input, ...pool]); // mutations of mutations
    if (i % 20 === 7) input = stutter(rand, input);
    const r = attempt(input);
    if (r.ok) {
      decoded++;
      continue;
    }
    if (!(r.error instanceof EtfError)) {
      failed++;
      if (failures.length < 10) failures.push(`#${i}: ${describe(r.error)}\n  input: ${hex(input, 400)}`);
    }
  }
  assert.equal(failed, 0, `fuzz seed ${seed}: ${failed} of ${iterations} inputs gave something other than a value or an EtfError; first ${failures.length}:\n${failures.join('\n')}`);
  // Sanity: the mutations are not all rejected at the first byte.
  assert.ok(decoded > iterations / 50, `only ${decoded} of ${iterations} mutated inputs decoded`);
}

test('fuzz: mutated, truncated and spliced encodings give a value or an EtfError (seed 1)', () => {
  fuzz(1, 10_000);
});

test('fuzz: mutated, truncated and spliced encodings give a value or an EtfError (seed 0xbea1)', () => {
  fuzz(0xbea1, 10_000);
});
