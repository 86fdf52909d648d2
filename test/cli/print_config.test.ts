/** `scope-pipeline print-config` shows secrets as [REDACTED], as the Collector's configopaque does. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CLI, ROOT, tempDir } from '../helpers.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SECRETS = {
  bearer: 'Bearer abc-otlp-token-4711',
  datadog: 'dd0123456789abcdef0123456789abcd',
  salt: 'pepper-and-salt-0815',
  cookie: 'RELEASECOOKIEABCDEFGH',
  literal: 'another-literal-secret',
  urlPassword: 'pw-in-the-url-99',
  telemetryToken: 'beam-telemetry-shared-token',
  receiverToken: 'otlp-receiver-bearer-1234',
  grpcHeader: 'grpc-api-key-5678',
  pem: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
};
const PEM = `-----BEGIN PRIVATE KEY-----\\n${SECRETS.pem}\\n-----END PRIVATE KEY-----`;

const CONFIG = `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0, auth: { bearer_token: "\${env:RECEIVER_TOKEN}" } }
  beam_telemetry: { endpoint: 127.0.0.1:0, auth: { token: ${SECRETS.telemetryToken} } }
processors:
  privacy:
    hash_salt: ${SECRETS.salt}
    secrets: [${SECRETS.cookie}, ${SECRETS.literal}]
    blocked_keys: [password, token]
    detectors: { distribution_cookie: true, password_keys: { enabled: true, action: hash } }
exporters:
  otlp_http:
    endpoint: https://user:${SECRETS.urlPassword}@collector.example.com:4318
    headers: { authorization: "${SECRETS.bearer}", x-scope-orgid: tenant-1 }
  otlp:
    endpoint: collector.example.com:4317
    headers: { x-api-key: ${SECRETS.grpcHeader}, x-team: blue, x-client-pem: "${PEM}" }
  datadog:
    endpoint: http://127.0.0.1:8126
    headers: { DD-API-KEY: ${SECRETS.datadog} }
service:
  pipelines:
    p: { receivers: [otlp, beam_telemetry], processors: [privacy], exporters: [otlp_http, otlp, datadog] }
`;

type Doc = Record<string, any>;

describe('print-config', () => {
  it('masks tokens, passwords, keys, salts, secrets and URL passwords, and leaves everything else as it was', (t) => {
    const file = join(tempDir(t), 'secrets.yaml');
    writeFileSync(file, CONFIG);
    const env = { RECEIVER_TOKEN: SECRETS.receiverToken };
    const shown = cli(['print-config', '--config', file], env);
    assert.equal(shown.code, 0, shown.stderr);
    for (const [name, secret] of Object.entries(SECRETS)) {
      // The bearer header's token, without "Bearer ", must not show either.
      for (const part of [secret, secret.replace(/^Bearer /, '')]) assert.equal(shown.stdout.includes(part), false, `${name} (${part}) printed`);
    }

    const redacted = parse(shown.stdout) as Doc;
    assert.equal(redacted.receivers.otlp.protocols.http.auth.bearer_token, '[REDACTED]');
    assert.equal(redacted.receivers.beam_telemetry.auth.token, '[REDACTED]');
    assert.equal(redacted.processors.privacy.hash_salt, '[REDACTED]');
    assert.deepEqual(redacted.processors.privacy.secrets, ['[REDACTED]', '[REDACTED]']);
    assert.equal(redacted.exporters.otlp_http.endpoint, 'https://user:[REDACTED]@collector.example.com:4318');
    assert.deepEqual(redacted.exporters.otlp_http.headers, { authorization: '[REDACTED]', 'x-scope-orgid': 'tenant-1' });
    // A header not named like a secret, holding a private key: masked by its shape.
    assert.deepEqual(redacted.exporters.otlp.headers, { 'x-api-key': '[REDACTED]', 'x-team': 'blue', 'x-client-pem': '[REDACTED]' });
    assert.deepEqual(redacted.exporters.datadog.headers, { 'DD-API-KEY': '[REDACTED]' });
    // Names of things that are secrets elsewhere are not secrets: they stay readable.
    assert.deepEqual(redacted.processors.privacy.blocked_keys, ['password', 'token']);
    assert.deepEqual(redacted.processors.privacy.detectors.password_keys, { enabled: true, action: 'hash' });
    assert.equal(redacted.processors.privacy.detectors.distribution_cookie, true);
    assert.ok(Array.isArray(redacted.processors.privacy.secret_functions) && redacted.processors.privacy.secret_functions.length > 0);

    // --show-secrets prints the values, with a warning; the redacted document is that one with exactly these values replaced.
    const full = cli(['print-config', '--show-secrets', '--config', file], env);
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stderr, /warning: --show-secrets/);
    for (const secret of Object.values(SECRETS)) assert.ok(full.stdout.includes(secret), secret);
    const expected = parse(full.stdout) as Doc;
    expected.receivers.otlp.protocols.http.auth.bearer_token = '[REDACTED]';
    expected.receivers.beam_telemetry.auth.token = '[REDACTED]';
    expected.processors.privacy.hash_salt = '[REDACTED]';
    expected.processors.privacy.secrets = ['[REDACTED]', '[REDACTED]'];
    expected.exporters.otlp_http.endpoint = 'https://user:[REDACTED]@collector.example.com:4318';
    expected.exporters.otlp_http.headers.authorization = '[REDACTED]';
    expected.exporters.otlp.headers['x-api-key'] = '[REDACTED]';
    expected.exporters.otlp.headers['x-client-pem'] = '[REDACTED]';
    expected.exporters.datadog.headers['DD-API-KEY'] = '[REDACTED]';
    assert.deepEqual(redacted, expected);
    assert.equal(expected.exporters.datadog.retry_on_failure.enabled, true, 'defaults are printed');
  });

  it('the shipped configs print with nothing masked that is not a secret', () => {
    const r = cli(['print-config', '--config', 'config/pipeline.yaml', '--config', 'config/production.yaml']);
    assert.equal(r.code, 0, r.stderr);
    const full = cli(['print-config', '--show-secrets', '--config', 'config/pipeline.yaml', '--config', 'config/production.yaml']);
    assert.deepEqual(parse(r.stdout), parse(full.stdout));
    assert.equal(r.stdout.includes('[REDACTED]'), false);
  });
});
