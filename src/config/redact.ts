/**
 * Secret values masked for printing (`scope-pipeline print-config`), as the
 * Collector prints its configopaque values: `[REDACTED]` in their place, the
 * document otherwise unchanged.
 *
 * The component schemas belong to their components and do not mark secret
 * options, so the rule is by name and by shape:
 *
 * - Under a key that names a secret, string and number values are masked
 *   (each string or number of a list, too): the key's last word is `token`,
 *   `password`, `passwd`, `pwd`, `passphrase`, `secret`, `secrets`,
 *   `authorization`, `cookie`, `cookies`, `salt`, `credential`, `credentials`,
 *   `apikey` or `privatekey`, or its last two words are `api key`, `private
 *   key`, `access key`, `secret key`, `signing key`, `auth key` or `session
 *   id`. Words are split at `_`, `-`, `.` and camelCase; case does not matter.
 *   So `bearer_token`, `hash_salt`, `privacy.secrets`, `auth.token`, headers
 *   such as `authorization`, `x-api-key`, `DD-API-KEY`, `X-Auth-Token`,
 *   `cookie`, `proxy-authorization`, and `client_secret`, `private_key` are
 *   masked; `secret_functions`, `password_keys`, `key_file`, `blocked_keys`
 *   (names of things, not secrets) are not. Booleans, empty strings and maps
 *   are left as they are (a map under such a key is masked by the same rules
 *   inside it), so `detectors: { bearer_token: true }` stays readable.
 * - In any string: the password of a URL's userinfo
 *   (`https://user:[REDACTED]@host:4318`), and a PEM private key block.
 */

export const REDACTED = '[REDACTED]';

const SECRET_WORDS = new Set([
  'token', 'password', 'passwd', 'pwd', 'passphrase', 'secret', 'secrets', 'authorization', 'cookie', 'cookies',
  'salt', 'credential', 'credentials', 'apikey', 'privatekey',
]);
const SECRET_PAIRS = new Set(['api key', 'api keys', 'private key', 'access key', 'secret key', 'signing key', 'auth key', 'session id']);

function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/** Whether values under this key are secrets. */
export function isSecretKey(key: string): boolean {
  const w = words(key);
  if (w.length === 0) return false;
  return SECRET_WORDS.has(w[w.length - 1]) || (w.length >= 2 && SECRET_PAIRS.has(`${w[w.length - 2]} ${w[w.length - 1]}`));
}

// scheme://user:password@ — the password is everything up to the last @ before the host.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*):([^\s/?#]*)@/gi;
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;

/** A string with URL passwords and PEM private keys masked. */
export function redactString(text: string): string {
  return text
    .replace(URL_PASSWORD, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`)
    .replace(PEM_PRIVATE_KEY, REDACTED);
}

function maskValue(value: unknown): unknown {
  if (typeof value === 'string') return value === '' ? value : REDACTED;
  if (typeof value === 'number' || typeof value === 'bigint') return REDACTED;
  if (Array.isArray(value)) return value.map(maskValue);
  if (value !== null && typeof value === 'object') return redactSecrets(value);
  return value;
}

/** A copy of a config document (any JSON-like value) with secret values replaced by `[REDACTED]`. */
export function redactSecrets(value: unknown): unknown {
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) out[key] = isSecretKey(key) ? maskValue(v) : redactSecrets(v);
  return out;
}
