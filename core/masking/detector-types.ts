// Types shared by the detector scanners and the detector API.
import type { MaskStrategy } from './strategies.js';

export type DetectorType = 'pan' | 'ssn' | 'email' | 'phone' | 'iban' | 'jwt' | 'cloudKey' | 'privateKey' | 'custom';

export const DETECTOR_TYPES: readonly DetectorType[] = [
  'pan',
  'ssn',
  'email',
  'phone',
  'iban',
  'jwt',
  'cloudKey',
  'privateKey',
  'custom',
];

/** One entry of AccessPolicy.spec.masking.detectors. */
export interface DetectorSpec {
  type: DetectorType;
  /** custom only: an RE2 pattern (linear-time; no backreferences or lookaround). */
  pattern?: string;
  /** Default 'redact'. */
  strategy?: MaskStrategy;
  /** partial only. Default 4. */
  keep?: number;
}

/** A sensitive substring: UTF-16 offsets [start, end) into the scanned text. */
export interface Match {
  start: number;
  end: number;
  type: DetectorType;
  /** Index of the detector (in the array given to findSensitive) that found it. */
  detector: number;
}

/** A scanner appends its matches to `out`; it must run in time linear in text.length. */
export type Scanner = (text: string, out: Match[], detector: number) => void;
