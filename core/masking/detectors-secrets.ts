// Scanners for credentials: JWTs, cloud access keys, private-key blocks.
// Each starts from a fixed marker found with indexOf and reads a bounded
// token after it, so the work is linear in the text length.
import { codeAt, isAlnum, isBase64Url, isDigit, isUpper, isWord } from './chars.js';
import type { Match } from './detector-types.js';

const MAX_JWT_HEADER = 4096;

function headerHasAlg(segment: string): boolean {
  if (segment.length > MAX_JWT_HEADER) return false;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && typeof (parsed as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

function base64UrlRun(text: string, from: number): number {
  let k = from;
  while (k < text.length && isBase64Url(text.charCodeAt(k))) k++;
  return k;
}

/**
 * JWTs (JWS compact form, and JWE's five segments): base64url segments joined
 * by dots, the first decoding to a JSON object with an "alg" string.
 */
export function scanJwt(text: string, out: Match[], detector: number): void {
  let at = text.indexOf('eyJ');
  while (at >= 0) {
    const headerEnd = base64UrlRun(text, at);
    let next = headerEnd; // a failed header rules out every 'eyJ' inside the same run
    if (!isBase64Url(codeAt(text, at - 1)) && text.charCodeAt(headerEnd) === 46) {
      const payloadEnd = base64UrlRun(text, headerEnd + 1);
      if (payloadEnd - headerEnd - 1 >= 2 && text.charCodeAt(payloadEnd) === 46 && headerHasAlg(text.slice(at, headerEnd))) {
        let end = base64UrlRun(text, payloadEnd + 1);
        for (let extra = 0; extra < 2 && text.charCodeAt(end) === 46 && isBase64Url(codeAt(text, end + 1)); extra++) {
          end = base64UrlRun(text, end + 1);
        }
        out.push({ start: at, end, type: 'jwt', detector });
        next = end;
      }
    }
    at = text.indexOf('eyJ', next);
  }
}

interface KeyShape {
  prefix: string;
  /** Characters allowed after the prefix. */
  body: (c: number) => boolean;
  min: number;
  max: number;
}

const upperOrDigit = (c: number): boolean => isUpper(c) || isDigit(c);
const alnumDash = (c: number): boolean => isAlnum(c) || c === 45;

const KEY_SHAPES: readonly KeyShape[] = [
  { prefix: 'AKIA', body: upperOrDigit, min: 16, max: 16 }, // AWS long-term access key id
  { prefix: 'ASIA', body: upperOrDigit, min: 16, max: 16 }, // AWS temporary (STS) access key id
  { prefix: 'AIza', body: isBase64Url, min: 35, max: 35 }, // Google API key
  { prefix: 'ghp_', body: isAlnum, min: 36, max: 36 }, // GitHub personal access token
  { prefix: 'gho_', body: isAlnum, min: 36, max: 36 }, // GitHub OAuth token
  { prefix: 'ghu_', body: isAlnum, min: 36, max: 36 }, // GitHub user-to-server token
  { prefix: 'ghs_', body: isAlnum, min: 36, max: 36 }, // GitHub server-to-server token
  { prefix: 'ghr_', body: isAlnum, min: 36, max: 36 }, // GitHub refresh token
  { prefix: 'github_pat_', body: isWord, min: 40, max: 255 }, // GitHub fine-grained token
  { prefix: 'xoxb-', body: alnumDash, min: 10, max: 255 }, // Slack bot token
  { prefix: 'xoxp-', body: alnumDash, min: 10, max: 255 }, // Slack user token
  { prefix: 'xoxa-', body: alnumDash, min: 10, max: 255 },
  { prefix: 'xoxo-', body: alnumDash, min: 10, max: 255 },
  { prefix: 'xoxr-', body: alnumDash, min: 10, max: 255 },
  { prefix: 'xoxs-', body: alnumDash, min: 10, max: 255 },
  { prefix: 'xoxe-', body: alnumDash, min: 10, max: 255 },
  { prefix: 'xapp-', body: alnumDash, min: 10, max: 255 }, // Slack app-level token
];

/** Shortest text that can hold any cloud key shape: lets callers skip the scan for short values. */
export const MIN_CLOUD_KEY_LENGTH = 15;

/** The shapes grouped by their prefix's first two characters: one search per group, not per shape. */
const KEY_GROUPS: ReadonlyArray<{ lead: string; shapes: readonly KeyShape[] }> = (() => {
  const groups = new Map<string, KeyShape[]>();
  for (const shape of KEY_SHAPES) {
    const lead = shape.prefix.slice(0, 2);
    const list = groups.get(lead);
    if (list === undefined) groups.set(lead, [shape]);
    else list.push(shape);
  }
  return [...groups].map(([lead, shapes]) => ({ lead, shapes }));
})();

/**
 * Cloud and SaaS access keys recognised by their documented prefixes and
 * lengths. Each shape's occurrences are tried left to right, and one that
 * starts inside the token an earlier occurrence of the same shape read is
 * skipped.
 */
export function scanCloudKey(text: string, out: Match[], detector: number): void {
  let resumeAt: Map<KeyShape, number> | undefined;
  for (const group of KEY_GROUPS) {
    let at = text.indexOf(group.lead);
    while (at >= 0) {
      for (const shape of group.shapes) {
        if (!text.startsWith(shape.prefix, at) || at < (resumeAt?.get(shape) ?? 0)) continue;
        if (isAlnum(codeAt(text, at - 1))) continue;
        const bodyStart = at + shape.prefix.length;
        let k = bodyStart;
        while (k < text.length && k - bodyStart <= shape.max && shape.body(text.charCodeAt(k))) k++;
        const len = k - bodyStart;
        // The token must end where its characters end (a 17th char means another shape).
        if (len >= shape.min && len <= shape.max && !shape.body(codeAt(text, k)) && !isAlnum(codeAt(text, k))) {
          out.push({ start: at, end: k, type: 'cloudKey', detector });
        }
        (resumeAt ??= new Map()).set(shape, k);
      }
      at = text.indexOf(group.lead, at + 1);
    }
  }
}

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';
const MAX_LABEL = 48;

/** "-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |PGP ]PRIVATE KEY[ BLOCK]-----": returns the header's end or -1. */
function privateKeyHeaderEnd(text: string, at: number): number {
  const labelStart = at + BEGIN.length;
  const close = text.indexOf(DASHES, labelStart);
  if (close < 0 || close - labelStart > MAX_LABEL) return -1;
  const label = text.slice(labelStart, close);
  if (!label.endsWith('PRIVATE KEY') && !label.endsWith('PRIVATE KEY BLOCK')) return -1;
  for (let k = 0; k < label.length; k++) {
    const c = label.charCodeAt(k);
    if (!isUpper(c) && !isDigit(c) && c !== 32) return -1;
  }
  return close + DASHES.length;
}

/**
 * Private-key blocks, BEGIN line to END line. A block without its END line
 * (a truncated value) is masked to the end of the text: fail closed.
 */
export function scanPrivateKey(text: string, out: Match[], detector: number): void {
  let at = text.indexOf(BEGIN);
  while (at >= 0) {
    const headerEnd = privateKeyHeaderEnd(text, at);
    if (headerEnd < 0) {
      at = text.indexOf(BEGIN, at + 1);
      continue;
    }
    const endAt = text.indexOf(END, headerEnd);
    let end = text.length;
    if (endAt >= 0) {
      const close = text.indexOf(DASHES, endAt + END.length);
      end = close >= 0 && close - endAt <= MAX_LABEL + END.length ? close + DASHES.length : text.length;
    }
    out.push({ start: at, end, type: 'privateKey', detector });
    at = end < text.length ? text.indexOf(BEGIN, end) : -1;
  }
}
