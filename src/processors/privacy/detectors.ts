/**
 * Built-in secret detectors: each finds spans of a string to replace. They
 * work on plain text and on Erlang/Elixir terms as the receivers render them
 * (`#{password => <<"…">>}`, `%{"token" => "…"}`, `[password: "…"]`).
 */

export interface Finding {
  start: number;
  end: number;
  detector: string;
}

export type Detector = (text: string, out: Finding[]) => void;

function regexDetector(name: string, re: RegExp, group = 0): Detector {
  return (text, out) => {
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

const CARD = /(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])/g;

const paymentCard: Detector = (text, out) => {
  CARD.lastIndex = 0;
  for (let m = CARD.exec(text); m !== null; m = CARD.exec(text)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) out.push({ start: m.index, end: m.index + m[0].length, detector: 'payment_card' });
  }
};

/** Keys whose values are secrets wherever they appear (a map, a keyword list, a tuple, a query string). */
const SECRET_KEY = '(?:password|passwd|pass|pwd|secret|secret_key|client_secret|token|access_token|refresh_token|api_key|apikey|api_token|auth_token|private_key|authorization|cookie|session|csrf_token|_csrf_token|credentials?)';
/** A value as rendered: a quoted string, a binary, a charlist, or a bare word. */
const VALUE = '(<<"(?:[^"\\\\]|\\\\.)*">>|"(?:[^"\\\\]|\\\\.)*"|\'(?:[^\'\\\\]|\\\\.)*\'|<<[\\d,]*>>|\\[[\\d,]*\\]|[^\\s,}\\])&;]+)';
/** `password => V`, `"token" => V`, `password: V`, `{password, V}`, `password=V`. */
const PASSWORD_IN_TERM = new RegExp(
  `(?:["'<]*\\b${SECRET_KEY}\\b["'>]*)(?:\\s*=>\\s*|:\\s+|\\s*,\\s*|=)${VALUE}`,
  'gi',
);

export const DETECTORS: Record<string, Detector> = {
  email: regexDetector('email', /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g),
  payment_card: paymentCard,
  jwt: regexDetector('jwt', /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g),
  auth_header: regexDetector('auth_header', /\b(?:Bearer|Basic|Digest|Token)\s+([A-Za-z0-9._~+/=-]{8,})/g, 1),
  aws_key: regexDetector('aws_key', /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b|(?<=aws_secret_access_key["'\s:=>]{1,6})[A-Za-z0-9/+=]{40}/g),
  password_keys: regexDetector('password_keys', PASSWORD_IN_TERM, 1),
};

export type DetectorName = keyof typeof DETECTORS;
export const DETECTOR_NAMES = Object.keys(DETECTORS) as DetectorName[];

/** Keys that name secrets, for attribute keys themselves (`http.request.header.authorization`, `password`). */
export const SECRET_KEY_PATTERN = new RegExp(`(?:^|[._-])${SECRET_KEY}$`, 'i');

/** Merges overlapping findings, in order. */
export function mergeFindings(findings: Finding[]): Finding[] {
  if (findings.length < 2) return findings;
  findings.sort((a, b) => a.start - b.start);
  const out: Finding[] = [findings[0]];
  for (let i = 1; i < findings.length; i++) {
    const last = out[out.length - 1];
    const f = findings[i];
    if (f.start <= last.end) last.end = Math.max(last.end, f.end);
    else out.push(f);
  }
  return out;
}
