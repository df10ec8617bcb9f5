// Scanners for personal identifiers written as words: email addresses and
// IBANs. Linear: every start position does bounded work.
import { CH, codeAt, isAlnum, isAlpha, isDigit, isUpper } from './chars.js';
import type { Match } from './detector-types.js';

// RFC 5322 allows more (!#$&'*/=?^`{|}~), but those also delimit emails in
// real text ("email=a@b.io", "'a@b.io'", "{a@b.io,…}" array literals), and
// swallowing them would break the surrounding syntax; real addresses use these.
const LOCAL_SPECIALS = new Set(Array.from('._%+-', (c) => c.charCodeAt(0)));
/** Non-ASCII letters are allowed (internationalised addresses, RFC 6531); Unicode spaces are not. */
const isIntl = (c: number): boolean => c > 127 && c !== 0xa0 && !(c >= 0x2000 && c <= 0x200b) && c !== 0x3000 && c !== 0xfeff;
const isLocalChar = (c: number): boolean => isAlnum(c) || LOCAL_SPECIALS.has(c) || isIntl(c);
const isDomainChar = (c: number): boolean => isAlnum(c) || isIntl(c);
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

function validDomain(domain: string): boolean {
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) return false;
    if (l.charCodeAt(0) === CH.minus || l.charCodeAt(l.length - 1) === CH.minus) return false;
  }
  const tld = labels[labels.length - 1] ?? '';
  if (tld.length < 2) return false;
  for (let k = 0; k < tld.length; k++) if (!isAlpha(tld.charCodeAt(k)) && !isIntl(tld.charCodeAt(k))) return false;
  return true;
}

/** Email addresses: local@domain.tld (dot-atom local part, a domain with an alphabetic TLD). */
export function scanEmail(text: string, out: Match[], detector: number): void {
  const n = text.length;
  let floor = 0; // never extend a local part back into the previous match
  let at = text.indexOf('@');
  while (at >= 0) {
    let s = at;
    while (s > floor && at - s < MAX_LOCAL && isLocalChar(text.charCodeAt(s - 1))) s--;
    while (s < at && text.charCodeAt(s) === CH.dot) s++;
    let e = at + 1;
    while (e < n && e - at <= MAX_DOMAIN) {
      const c = text.charCodeAt(e);
      if (isDomainChar(c) || c === CH.minus) e++;
      else if (c === CH.dot && isDomainChar(codeAt(text, e + 1))) e++;
      else break;
    }
    if (s < at && text.charCodeAt(at - 1) !== CH.dot && validDomain(text.slice(at + 1, e))) {
      out.push({ start: s, end: e, type: 'email', detector });
      floor = e;
      at = text.indexOf('@', e);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
}

/** IBAN length per country (SWIFT IBAN registry). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22,
  GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30,
  KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31,
  MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24,
  SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/** ISO 13616 check: move the first four characters to the end, letters A=10..Z=35, mod 97 must be 1. */
export function ibanChecksumValid(compact: string): boolean {
  const s = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    rem = isDigit(c) ? (rem * 10 + (c - 48)) % 97 : (rem * 100 + (c - 55)) % 97;
  }
  return rem === 1;
}

/**
 * IBANs: country code, two check digits, BBAN, the country's exact length,
 * mod-97 valid; compact or printed in groups of four separated by single spaces.
 */
export function scanIban(text: string, out: Match[], detector: number): void {
  const n = text.length;
  for (let i = 0; i + 15 <= n; i++) {
    if (!isUpper(text.charCodeAt(i))) continue;
    if (!isUpper(codeAt(text, i + 1)) || !isDigit(codeAt(text, i + 2)) || !isDigit(codeAt(text, i + 3))) continue;
    if (isAlnum(codeAt(text, i - 1))) continue;
    const len = IBAN_LENGTHS[text.slice(i, i + 2)];
    if (len === undefined) continue;
    let compact = text.slice(i, i + 4);
    let j = i + 4;
    while (compact.length < len) {
      const c = codeAt(text, j);
      if (isUpper(c) || isDigit(c)) {
        compact += text[j];
        j++;
      } else if (c === CH.space && compact.length % 4 === 0) {
        const d = codeAt(text, j + 1);
        if (!isUpper(d) && !isDigit(d)) break;
        j++;
      } else {
        break;
      }
    }
    if (compact.length !== len || isAlnum(codeAt(text, j))) continue;
    if (!ibanChecksumValid(compact)) continue;
    out.push({ start: i, end: j, type: 'iban', detector });
    i = j - 1;
  }
}
