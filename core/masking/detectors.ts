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
  readonly scan: Scanner;
}

interface BuiltIn {
  scan: Scanner;
  minLength: number;
  minDigits: number;
}

const BUILT_INS: Readonly<Record<Exclude<DetectorType, 'custom'>, BuiltIn>> = {
  pan: { scan: scanPan, minLength: 13, minDigits: 13 },
  ssn: { scan: scanSsn, minLength: 9, minDigits: 9 },
  phone: { scan: scanPhone, minLength: 9, minDigits: 8 },
  email: { scan: scanEmail, minLength: 6, minDigits: 0 },
  iban: { scan: scanIban, minLength: 15, minDigits: 2 },
  jwt: { scan: scanJwt, minLength: 10, minDigits: 0 },
  cloudKey: { scan: scanCloudKey, minLength: MIN_CLOUD_KEY_LENGTH, minDigits: 0 },
  privateKey: { scan: scanPrivateKey, minLength: 40, minDigits: 0 },
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
  return { type: 'custom', strategy, keep, pattern, minLength: 1, minDigits: 0, scan: customScanner(compilePattern(pattern)) };
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

function countDigits(text: string, enough: number): number {
  let n = 0;
  for (let i = 0; i < text.length && n < enough; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/**
 * All sensitive substrings of `text`, sorted by start, non-overlapping (when
 * matches overlap, the earlier-starting one wins, then the longer one, then
 * the detector listed first).
 */
export function findSensitive(text: string, detectors: readonly Detector[]): Match[] {
  const out: Match[] = [];
  if (text.length === 0) return out;
  let digits = -1;
  for (let k = 0; k < detectors.length; k++) {
    const d = detectors[k];
    if (d === undefined || text.length < d.minLength) continue;
    if (d.minDigits > 0) {
      if (digits < 0) digits = countDigits(text, 13);
      if (digits < d.minDigits) continue;
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
