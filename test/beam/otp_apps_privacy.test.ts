/**
 * No secret leaves, on a real node: the traced node's distribution cookie (it
 * crosses the trace when a node connects over distribution), the ssh
 * daemon's password (an argument of ssh_auth:check_password/3, and inside
 * the daemon's options; and a login form's password passed as a binary
 * argument of a traced function) and an e-mail address inside an HTTP body (a binary
 * from the socket) reach no exporter under the default and the production
 * configs' processors — while the raw trace shows they were there. And no
 * nanosecond time is ever masked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/index.js';
import { ROOT } from '../helpers.js';
import { runOtpApps } from './otp_apps.js';

const PASSWORD = 'correct-horse-otp-7';
const EMAIL = 'ada.lovelace@example.com';

/** The processors of the config's default pipeline, in order, with their config (the anomaly baselines kept out of the repository). */
function processorsOf(files: string[]): Record<string, Record<string, unknown>> {
  const config = loadConfig({ files: files.map((f) => join(ROOT, f)), env: {} });
  const pipeline = config.service.pipelines.default;
  const out: Record<string, Record<string, unknown>> = {};
  for (const id of pipeline.processors) {
    const c = { ...(config.processors[id] as Record<string, unknown>) };
    if (id === 'anomaly') delete c.persist_path;
    if (id === 'correlation') c.crash_window = '300ms';
    if (id === 'sampling') continue; // it only drops: every item must be checked
    out[id] = c;
  }
  return out;
}

const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('latin1') : x));

for (const [profile, files] of [['default', ['config/pipeline.yaml']], ['production', ['config/pipeline.yaml', 'config/production.yaml']]] as const) {
  describe(`privacy on a real node, ${profile} config`, () => {
    it('the cookie, the ssh password and an e-mail in an HTTP body reach no exporter; times are never masked', async (t) => {
      const processors = processorsOf([...files]);
      assert.ok('privacy' in processors && 'correlation' in processors, Object.keys(processors).join(', '));
      const run = await runOtpApps(t, { phases: ['traffic', 'erpc'], processors, raw: true });
      const raw = run.raw.join('\n');
      // They were in the trace.
      assert.ok(raw.includes(run.cookie), 'the cookie crossed the trace');
      assert.ok(raw.includes(EMAIL), 'the e-mail crossed the trace');
      assert.ok(raw.includes(PASSWORD) || raw.includes(`[${[...PASSWORD].map((c) => c.charCodeAt(0)).join(',')}]`), 'the password crossed the trace');
      assert.ok(run.events.some((e) => e.type === 'function.call' && e.attributes['beam.mfa'] === 'ssh_auth:check_password/3'), 'the ssh login was traced');
      const login = run.events.find((e) => e.type === 'function.call' && e.attributes['beam.mfa'] === 'otp_apps_workload:check_password/2');
      assert.match(String(login?.attributes['beam.args']), /^\[<<"(\*{4}|sha256:[0-9a-f]+)">>,<<"(\*{4}|sha256:[0-9a-f]+)">>\]$/, 'the form\'s password, a binary argument, masked in place');
      assert.match(run.fact('traffic.http.login'), /^\{200,/);

      const out = json({ events: run.events, spans: run.spans });
      for (const [what, secret] of [['cookie', run.cookie], ['password', PASSWORD], ['e-mail', EMAIL]]) {
        assert.ok(!out.includes(secret), `the ${what} reached the exporter: …${out.slice(Math.max(0, out.indexOf(secret) - 200), out.indexOf(secret) + 40)}…`);
      }
      // The bytes of the password as a charlist would be the same leak.
      assert.ok(!out.includes([...PASSWORD].map((c) => c.charCodeAt(0)).join(',')));

      // Times stay numbers: every event time, span time and the times inside crash context.
      let times = 0;
      JSON.parse(out, (k, v) => {
        if (typeof v === 'string' && (k === 'time' || k.endsWith('UnixNano'))) {
          assert.match(v, /^\d{19}$/, `${k}: ${v}`);
          times++;
        }
        return v;
      });
      assert.ok(times > 1000, `${times} times checked`);
      assert.ok(!/"time":"[^"]*\*/.test(out));
    });
  });
}
