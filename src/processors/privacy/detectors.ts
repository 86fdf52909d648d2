/**
 * Built-in secret detectors over text: each finds spans of a string to
 * replace. They see plain text — an attribute value, or the contents of a
 * binary, charlist or atom inside a rendered Erlang/Elixir term, already
 * unescaped (see terms.ts, which also finds the secrets that only the term's
 * structure shows: `password => <<"…">>`, cookie atoms, secret arguments).
 */

export interface Finding {
  start: number;
  end: number;
  detector: string;
  /**
   * How the replacement is written in place of the span: between `prefix`
   * and `suffix`, escaped for `quote` (a byte-list binary becomes
   * `<<"****">>`, an Elixir atom `:"****"`). Without it, the bare replacement.
   */
  wrap?: { prefix: string; suffix: string; quote: '"' | "'" };
}

export type Detector = (text: string, out: Finding[]) => void;

/** Text that is entirely a number (`1764000000123456789`, `-3.5e2`): never a secret, for any value detector. */
export const NUMBER_TEXT = /^\s*[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$/;

/** A detector from a regular expression; `maybe`, when given, is a cheap test that text without it cannot match. */
function regexDetector(name: string, re: RegExp, group = 0, maybe?: (text: string) => boolean): Detector {
  return (text, out) => {
    if (maybe && !maybe(text)) return;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      if (group === 0) out.push({ start: m.index, end: m.index + m[0].length, detector: name });
      else if (m[group] !== undefined) {
        const offset = m[0].lastIndexOf(m[group]);
        out.push({ start: m.index + offset, end: m.index + offset + m[group].length, detector: name });
      }
    }
  };
}

/** The Luhn checksum, so that order numbers and timestamps are not taken for cards. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * 13–19 digits, spaces or dashes between, standing apart from letters, digits,
 * `_` and decimal points (no part of a hex id, a version or a decimal number).
 */
const CARD = /(?<![\dA-Za-z_])(?<!\d\.)(?:\d[ -]?){12,18}\d(?![\dA-Za-z_])(?!\.\d)/g;

/** 13 digits, spaces or dashes between: what any card number has. */
const CARD_HINT = /\d(?:[ -]?\d){12}/;
const AUTH_HINT = /Bearer|Basic|Digest|Token/;
const AWS_HINT = /A(?:KIA|SIA|GPA|IDA|ROA|NPA)|aws_secret_access_key/;
const COOKIE_HINT = /[A-Z]{20}/;

/** Callers keep text that is entirely a number from it, where that is a number (see terms.ts). */
const paymentCard: Detector = (text, out) => {
  if (!CARD_HINT.test(text)) return;
  CARD.lastIndex = 0;
  for (let m = CARD.exec(text); m !== null; m = CARD.exec(text)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) out.push({ start: m.index, end: m.index + m[0].length, detector: 'payment_card' });
  }
};

/** Keys whose values are secrets wherever they appear (a map, a keyword list, a tuple, JSON, a query string). */
export const SECRET_KEY = '(?:passwords?|passwds?|pass|pwd|secrets?|secret_key|client_secret|tokens?|access_token|refresh_token|api_key|apikey|api_token|auth_token|private_key|authorization|cookie|session|csrf_token|_csrf_token|credentials?)';

const QUOTED = (q: string): string => `${q}((?:[^${q}\\\\]|\\\\.)*)${q}`;
/**
 * In text: `password => V`, `"token" => V`, `password: V`, `"password":V`,
 * `{password, V}`, `password=V`, V a binary, a string, a charlist, a byte-list
 * binary or a bare word. Quoted values are replaced inside their quotes.
 */
const PASSWORD_IN_TEXT = new RegExp(
  `(?:<<"${SECRET_KEY}">>|"${SECRET_KEY}"|'${SECRET_KEY}'|:?\\b${SECRET_KEY}\\b)`
  + `(?:\\s*=>\\s*|(?<=["'>])\\s*:\\s*|:\\s+|\\s*,\\s*|=)`
  + `(?:<<${QUOTED('"')}(?:/utf8)?>>|~c${QUOTED('"')}|${QUOTED('"')}|${QUOTED("'")}|(<<[\\d,\\s]*>>)|([^\\s,}\\])&;\\\\"'<][^\\s,}\\])&;]*))`,
  'gid',
);

/** Every SECRET_KEY contains one of these: text with none of them has no secret key. */
const SECRET_KEY_HINT = /pass|pwd|secret|token|key|authorization|cookie|session|credential/i;

const passwordInText: Detector = (text, out) => {
  if (!SECRET_KEY_HINT.test(text)) return;
  PASSWORD_IN_TEXT.lastIndex = 0;
  for (let m = PASSWORD_IN_TEXT.exec(text); m !== null; m = PASSWORD_IN_TEXT.exec(text)) {
    const idx = m.indices!;
    for (let g = 1; g <= 4; g++) {
      const span = idx[g];
      if (span && span[1] > span[0]) out.push({ start: span[0], end: span[1], detector: 'password_keys' });
    }
    if (idx[5]) out.push({ start: idx[5][0], end: idx[5][1], detector: 'password_keys', wrap: { prefix: '<<"', suffix: '">>', quote: '"' } });
    if (idx[6]) out.push({ start: idx[6][0], end: idx[6][1], detector: 'password_keys' });
  }
};

/** What `auth` makes a distribution cookie of: 20 random uppercase letters. */
export const COOKIE_SHAPE = /^[A-Z]{20}$/;
/**
 * A cookie in text: an atom of exactly 20 uppercase letters (`'ABCDEFGHIJKLMNOPQRST'`,
 * `:"…"`, `:ABC…`), or such a word after something that says cookie (`-setcookie X`,
 * `RELEASE_COOKIE=X`, `"cookie":"X"`).
 */
const COOKIE_QUOTED = /(?<![\w'])'([A-Z]{20})'(?!')|:"([A-Z]{20})"|(?<![\w:"'])(:)([A-Z]{20})(?![\w"'])|(?:[Cc]ookie|COOKIE)["'>]?(?:\s*(?:=>|[:=,])\s*|\s+)(?:<<)?["']?([A-Z]{20})(?![A-Za-z0-9_])/gd;

const cookieInText: Detector = (text, out) => {
  if (!COOKIE_HINT.test(text)) return;
  COOKIE_QUOTED.lastIndex = 0;
  for (let m = COOKIE_QUOTED.exec(text); m !== null; m = COOKIE_QUOTED.exec(text)) {
    const idx = m.indices!;
    const inner = idx[1] ?? idx[2] ?? idx[5];
    if (inner) out.push({ start: inner[0], end: inner[1], detector: 'distribution_cookie' });
    else if (idx[4]) out.push({ start: idx[4][0], end: idx[4][1], detector: 'distribution_cookie', wrap: { prefix: '"', suffix: '"', quote: '"' } });
  }
};

/**
 * For each detector, a cheap test that text must pass for the detector to
 * find anything in it — in the text itself or, for password_keys and
 * distribution_cookie, in a term's structure. A rendered term whose text
 * passes none (and has no escapes or byte lists that could hide one) is
 * skipped whole.
 */
export const DETECTOR_HINTS: Record<string, (text: string) => boolean> = {
  email: (t) => t.includes('@'),
  payment_card: (t) => CARD_HINT.test(t),
  jwt: (t) => t.includes('eyJ'),
  auth_header: (t) => AUTH_HINT.test(t),
  aws_key: (t) => AWS_HINT.test(t),
  password_keys: (t) => SECRET_KEY_HINT.test(t),
  distribution_cookie: (t) => COOKIE_HINT.test(t),
};

/** Detectors that work on text alone; `password_keys` and `distribution_cookie` also act on term structure. */
export const DETECTORS: Record<string, Detector> = {
  email: regexDetector('email', /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, 0, DETECTOR_HINTS.email),
  payment_card: paymentCard,
  jwt: regexDetector('jwt', /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, 0, DETECTOR_HINTS.jwt),
  auth_header: regexDetector('auth_header', /\b(?:Bearer|Basic|Digest|Token)\s+([A-Za-z0-9._~+/=-]{8,})/g, 1, DETECTOR_HINTS.auth_header),
  aws_key: regexDetector('aws_key', /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b|(?<=aws_secret_access_key["'\s:=>]{1,6})[A-Za-z0-9/+=]{40}/g, 0, DETECTOR_HINTS.aws_key),
  password_keys: passwordInText,
  distribution_cookie: cookieInText,
};

/** Every detector `detectors` configures: the text ones, and `secret_args` (string literals in the arguments of functions that take secrets). */
export const DETECTOR_NAMES = [...Object.keys(DETECTORS), 'secret_args'];
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** Keys that name secrets, for attribute keys and term keys (`http.request.header.authorization`, `password`, `new_password`). */
export const SECRET_KEY_PATTERN = new RegExp(`(?:^|[._-])${SECRET_KEY}$`, 'i');

/** The default `secret_functions`: functions whose arguments (and return values) are secrets. */
export const DEFAULT_SECRET_FUNCTIONS = ['*password*', '*passwd*', '*secret*', '*credential*', '*token*', 'login', 'authenticate*'];

/** Finds every occurrence of literal secrets (`secrets`: the cookie, an API key). */
export function literalDetector(secrets: readonly string[]): Detector {
  const list = [...new Set(secrets)].sort((a, b) => b.length - a.length);
  return (text, out) => {
    for (const secret of list) {
      for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + secret.length)) {
        out.push({ start: at, end: at + secret.length, detector: 'secrets' });
      }
    }
  };
}

/** Merges overlapping findings, in order (a finding inside a wider one goes; the wider keeps its form). */
export function mergeFindings(findings: Finding[]): Finding[] {
  if (findings.length < 2) return findings;
  findings.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Finding[] = [{ ...findings[0] }];
  for (let i = 1; i < findings.length; i++) {
    const last = out[out.length - 1];
    const f = findings[i];
    if (f.start < last.end || (f.start === last.end && !last.wrap && !f.wrap)) {
      if (f.end > last.end) {
        last.end = f.end;
        last.wrap = undefined;
      }
    } else {
      out.push({ ...f });
    }
  }
  return out;
}
