// Content detectors: find sensitive substrings in text. Built-in detectors are
// hand-written linear scanners; custom patterns are compiled with re2js
// (RE2 semantics: linear time, no backreferences or lookaround), so no input
// can make a detector backtrack. Compile once, when configuration loads.
import { RE2JS } from 're2js';
import { DETECTOR_TYPES, type DetectorSpec, type DetectorType, type Match, type Scanner } from './detector-types.js';
import { scanEmail, scanIban } from './detectors-identifiers.js';
import { scanPan, scanPhone, scanSsn } from './detectors-numbers.js';
import { MIN_CLOUD_KEY_LENGTH, scanCloudKey, scanJwt, scanPrivateKey } from './detectors-secrets.js';
import { InvalidMaskPatternError, InvalidMaskSpecError } from './errors.js';
import { DEFAULT_KEEP, isMaskStrategy, type MaskStrategy } from './strategies.js';

export type { DetectorSpec, DetectorType, Match } from './detector-types.js';

export const MAX_CUSTOM_PATTERN_LENGTH = 1024;
export const MAX_KEEP = 64;

export interface Detector {
  readonly type: DetectorType;
  readonly strategy: MaskStrategy;
  readonly keep: number;
  /** custom only: the source pattern. */
  readonly pattern?: string;
  /** Texts shorter than this cannot match (cheap skip). */
  readonly minLength: number;
  /** Texts with fewer ASCII digits than this cannot match (cheap skip). */
  readonly minDigits: number;
  /**
   * Whether it can match inside the text form of a number as PostgreSQL
   * prints one (an optional sign, digits, one decimal point, an exponent like
   * e+15, Infinity, NaN). Lets numeric columns skip the detectors that cannot
   * (see NUMBER_TEXT in BUILT_INS).
   */
  readonly inNumberText: boolean;
  /**
   * Characters a text needs for a match (cheap skip): any one of these sets
   * of CHAR bits, all of that set; empty: no such need.
   */
  readonly needs: readonly number[];
  readonly scan: Scanner;
}

interface BuiltIn {
  scan: Scanner;
  minLength: number;
  minDigits: number;
  inNumberText: boolean;
  needs: readonly number[];
}

/** Characters whose presence decides whether a scanner can match at all (see Detector.needs). */
export const CHAR = {
  at: 1 << 0, // '@'
  dot: 1 << 1, // '.'
  dash: 1 << 2, // '-'
  underscore: 1 << 3, // '_'
  upper: 1 << 4, // 'A'..'Z'
  upperA: 1 << 5, // 'A'
  upperJ: 1 << 6, // 'J'
  g: 1 << 7, // 'g'
  x: 1 << 8, // 'x'
} as const;

/** CHAR bits of each ASCII character (0 for the others). */
const CHAR_BITS = (() => {
  const t = new Uint16Array(128);
  t[0x40] = CHAR.at;
  t[0x2e] = CHAR.dot;
  t[0x2d] = CHAR.dash;
  t[0x5f] = CHAR.underscore;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = CHAR.upper;
  t[0x41] = CHAR.upper | CHAR.upperA;
  t[0x4a] = CHAR.upper | CHAR.upperJ;
  t[0x67] = CHAR.g;
  t[0x78] = CHAR.x;
  return t;
})();

/** Per byte: its CHAR bits, and 1 << DIGIT_SHIFT for an ASCII digit (bytes of 0x80 and up: nothing). */
const DIGIT_SHIFT = 15;
const BYTE_INFO = (() => {
  const t = new Uint16Array(256);
  t.set(CHAR_BITS);
  for (let c = 48; c <= 57; c++) t[c] = 1 << DIGIT_SHIFT;
  return t;
})();

// NUMBER_TEXT: which detectors can match inside a number's text. A card
// number can (a bigint or numeric holding 4111111111111111). The others need
// what a number's text never has: an SSN a separator between digit groups
// (a number's '-' only leads it or its exponent, after 'e') or a keyword
// before 9 bare digits; a phone number '+' after a non-letter (a number's
// '+' only follows 'e') or the same separator twice between digit groups
// (a number has at most one '.'); an email '@'; an IBAN two capital letters
// then two digits; a JWT 'eyJ'; cloud keys their letter prefixes; private
// keys '-----BEGIN '. detectors.test.ts checks this over generated numbers.
//
// needs: what each scanner anchors on. An email is found from its '@'; a JWT
// from 'eyJ' followed by a base64url run and a '.'; a cloud key from its
// prefix, and every prefix has an 'A' (AKIA, ASIA, AIza), or 'g' and '_'
// (ghp_, github_pat_, ...), or 'x' and '-' (xoxb-, xapp-, ...); a private key
// from '-----BEGIN '; an IBAN starts with two capital letters.
const BUILT_INS: Readonly<Record<Exclude<DetectorType, 'custom'>, BuiltIn>> = {
  pan: { scan: scanPan, minLength: 13, minDigits: 13, inNumberText: true, needs: [] },
  ssn: { scan: scanSsn, minLength: 9, minDigits: 9, inNumberText: false, needs: [] },
  phone: { scan: scanPhone, minLength: 9, minDigits: 8, inNumberText: false, needs: [] },
  email: { scan: scanEmail, minLength: 6, minDigits: 0, inNumberText: false, needs: [CHAR.at] },
  iban: { scan: scanIban, minLength: 15, minDigits: 2, inNumberText: false, needs: [CHAR.upper] },
  jwt: { scan: scanJwt, minLength: 10, minDigits: 0, inNumberText: false, needs: [CHAR.upperJ | CHAR.dot] },
  cloudKey: {
    scan: scanCloudKey,
    minLength: MIN_CLOUD_KEY_LENGTH,
    minDigits: 0,
    inNumberText: false,
    needs: [CHAR.upperA, CHAR.g | CHAR.underscore, CHAR.x | CHAR.dash],
  },
  privateKey: { scan: scanPrivateKey, minLength: 40, minDigits: 0, inNumberText: false, needs: [CHAR.dash] },
};

/** Compile detector specs (fails closed with InvalidMaskSpecError / InvalidMaskPatternError). */
export function compileDetectors(specs: readonly DetectorSpec[], field = 'detectors'): Detector[] {
  return specs.map((spec, i) => compileOne(spec, `${field}[${i}]`));
}

function compileOne(spec: DetectorSpec, field: string): Detector {
  if (!(DETECTOR_TYPES as readonly string[]).includes(spec.type)) {
    throw new InvalidMaskSpecError(`${field}.type`, `unknown detector type ${JSON.stringify(spec.type)}`);
  }
  const strategy = spec.strategy ?? 'redact';
  if (!isMaskStrategy(strategy)) {
    throw new InvalidMaskSpecError(`${field}.strategy`, `unknown strategy ${JSON.stringify(strategy)}`);
  }
  const keep = checkKeep(spec.keep, `${field}.keep`);
  if (spec.type !== 'custom') {
    if (spec.pattern !== undefined) {
      throw new InvalidMaskSpecError(`${field}.pattern`, `pattern is only allowed for type custom, not ${spec.type}`);
    }
    return { type: spec.type, strategy, keep, ...BUILT_INS[spec.type] };
  }
  const pattern = spec.pattern;
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new InvalidMaskSpecError(`${field}.pattern`, 'a custom detector needs a non-empty pattern');
  }
  // A custom pattern may match anything, digits included.
  return { type: 'custom', strategy, keep, pattern, minLength: 1, minDigits: 0, inNumberText: true, needs: [], scan: customScanner(compilePattern(pattern)) };
}

export function checkKeep(keep: unknown, field: string): number {
  if (keep === undefined) return DEFAULT_KEEP;
  if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0 || keep > MAX_KEEP) {
    throw new InvalidMaskSpecError(field, `keep must be an integer from 0 to ${MAX_KEEP}`);
  }
  return keep;
}

/** Compile an RE2 pattern; refuse syntax errors and patterns that match the empty string. */
export function compilePattern(pattern: string): RE2JS {
  if (pattern.length > MAX_CUSTOM_PATTERN_LENGTH) {
    throw new InvalidMaskPatternError(pattern, `longer than ${MAX_CUSTOM_PATTERN_LENGTH} characters`);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new InvalidMaskPatternError(pattern, `not a valid RE2 (linear-time) pattern: ${reason}`);
  }
  if (re.test('')) {
    throw new InvalidMaskPatternError(pattern, 'matches the empty string, so it would match everywhere');
  }
  return re;
}

function customScanner(re: RE2JS): Scanner {
  return (text, out, detector) => {
    if (!re.test(text)) return; // DFA-only check first: most texts do not match
    const m = re.matcher(text);
    while (m.find()) {
      const start = m.start();
      const end = m.end();
      if (end > start) out.push({ start, end, type: 'custom', detector });
    }
  };
}

// What scanText found in the text findSensitive is looking at (it runs to completion before the next).
let textDigits = 0;
let textChars = 0;

/** One pass over the text: its ASCII digits, and the CHAR bits of what it contains. */
function scanText(text: string): void {
  let digits = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const t = c < 256 ? (BYTE_INFO[c] as number) : 0;
    bits |= t;
    digits += t >>> DIGIT_SHIFT;
  }
  textDigits = digits;
  textChars = bits & ((1 << DIGIT_SHIFT) - 1);
}

/** Whether the text has every character of at least one of the detector's needs (or it has none). */
function needsMet(needs: readonly number[]): boolean {
  if (needs.length === 0) return true;
  for (const set of needs) if ((textChars & set) === set) return true;
  return false;
}

/**
 * Whether findSensitive can find anything in the UTF-8 text bytes[start,
 * end), told from the bytes without decoding them: false only when every
 * detector is ruled out by the checks findSensitive makes first (length,
 * digits, needed characters). They read the same from bytes: a multi-byte
 * character (or an invalid byte, decoded as U+FFFD) is all bytes of 0x80 and
 * up, which count for nothing, as non-ASCII characters do in the text; and a
 * text has no more UTF-16 units than its UTF-8 bytes.
 */
export function mayFindInUtf8(bytes: Uint8Array, start: number, end: number, detectors: readonly Detector[]): boolean {
  const length = end - start;
  if (length <= 0) return false;
  let scanned = false;
  for (const d of detectors) {
    if (length < d.minLength) continue;
    if (d.minDigits === 0 && d.needs.length === 0) return true;
    if (!scanned) {
      scanBytes(bytes, start, end);
      scanned = true;
    }
    if (textDigits >= d.minDigits && needsMet(d.needs)) return true;
  }
  return false;
}

/** scanText over UTF-8 bytes (branch-free: this runs over every screened value). */
function scanBytes(bytes: Uint8Array, start: number, end: number): void {
  let digits = 0;
  let bits = 0;
  for (let i = start; i < end; i++) {
    const t = BYTE_INFO[bytes[i] as number] as number;
    bits |= t;
    digits += t >>> DIGIT_SHIFT;
  }
  textDigits = digits;
  textChars = bits & ((1 << DIGIT_SHIFT) - 1);
}

/**
 * All sensitive substrings of `text`, sorted by start, non-overlapping (when
 * matches overlap, the earlier-starting one wins, then the longer one, then
 * the detector listed first).
 */
export function findSensitive(text: string, detectors: readonly Detector[]): Match[] {
  const out: Match[] = [];
  if (text.length === 0) return out;
  let scanned = false;
  for (let k = 0; k < detectors.length; k++) {
    const d = detectors[k];
    if (d === undefined || text.length < d.minLength) continue;
    if (d.minDigits > 0 || d.needs.length > 0) {
      if (!scanned) {
        scanText(text);
        scanned = true;
      }
      if (textDigits < d.minDigits || !needsMet(d.needs)) continue;
    }
    d.scan(text, out, k);
  }
  if (out.length <= 1) return out;
  out.sort((a, b) => a.start - b.start || b.end - a.end || a.detector - b.detector);
  const kept: Match[] = [];
  let lastEnd = -1;
  for (const m of out) {
    if (m.start >= lastEnd) {
      kept.push(m);
      lastEnd = m.end;
    }
  }
  return kept;
}
