// Scanners for number-shaped secrets: payment cards, US SSNs, phone numbers.
// Each is one left-to-right pass over the text with bounded look-ahead, so
// the cost is linear in the text length (no regex backtracking).
import { CH, codeAt, isDigit, isWord, isAlpha } from './chars.js';
import type { Match } from './detector-types.js';

const MIN_PAN = 13;
const MAX_PAN = 19;

/** Luhn (mod 10) check over an ASCII digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let v = digits.charCodeAt(i) - 48;
    if (double) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Issuer prefix and length of a card network that issues cards of this shape. */
export function plausibleIin(d: string): boolean {
  const len = d.length;
  const two = Number(d.slice(0, 2));
  const three = Number(d.slice(0, 3));
  const four = Number(d.slice(0, 4));
  if (d.charCodeAt(0) === 52) return len === 13 || len === 16 || len === 19; // Visa
  if (two >= 51 && two <= 55) return len === 16; // Mastercard
  if (four >= 2221 && four <= 2720) return len === 16; // Mastercard 2-series
  if (two === 34 || two === 37) return len === 15; // Amex
  if (two === 36 || two === 38 || two === 39 || (three >= 300 && three <= 305)) return len >= 14; // Diners
  if (four >= 3528 && four <= 3589) return len >= 16; // JCB
  if (four === 6011 || two === 65 || (three >= 644 && three <= 649)) return len >= 16; // Discover
  if (two === 62) return len >= 16; // UnionPay
  if (two === 50 || (two >= 56 && two <= 58) || two === 63 || two === 67) return true; // Maestro
  return false;
}

/** A digit run is not a standalone number if it touches a word or continues a decimal like 0.41… */
function leftClear(text: string, i: number): boolean {
  const p = codeAt(text, i - 1);
  if (isWord(p)) return false;
  return !(p === CH.dot && isDigit(codeAt(text, i - 2)));
}

function rightClear(text: string, end: number): boolean {
  const c = codeAt(text, end);
  if (isWord(c)) return false;
  return !(c === CH.dot && isDigit(codeAt(text, end + 1)));
}

/**
 * Payment cards: 13–19 digits, optionally grouped by single spaces or dashes
 * (groups of 3+ digits), Luhn-valid, with a plausible issuer prefix and length.
 * A longer digit run (an id of 25 digits) is not a card.
 */
export function scanPan(text: string, out: Match[], detector: number): void {
  const n = text.length;
  const starts: number[] = [];
  const ends: number[] = [];
  let i = 0;
  while (i < n) {
    if (!isDigit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    starts.length = 0;
    ends.length = 0;
    let j = i;
    for (;;) {
      let k = j;
      while (k < n && isDigit(text.charCodeAt(k))) k++;
      starts.push(j);
      ends.push(k);
      const sep = codeAt(text, k);
      if ((sep === CH.space || sep === CH.minus) && isDigit(codeAt(text, k + 1))) {
        j = k + 1;
        continue;
      }
      break;
    }
    const last = ends.length - 1;
    const runEnd = ends[last] ?? i + 1;
    const first = leftClear(text, i) ? 0 : 1;
    const lastUsable = rightClear(text, runEnd) ? last : last - 1;
    let a = first;
    while (a <= lastUsable) {
      let digits = '';
      let minGroup = Number.MAX_SAFE_INTEGER;
      let best = -1;
      for (let b = a; b <= lastUsable; b++) {
        const s = starts[b] ?? 0;
        const e = ends[b] ?? 0;
        if (digits.length + (e - s) > MAX_PAN) break;
        digits += text.slice(s, e);
        minGroup = Math.min(minGroup, e - s);
        if (b > a && minGroup < 3) break; // grouped cards use groups of 3+ digits
        if (digits.length >= MIN_PAN && (b === a || minGroup >= 3) && luhnValid(digits) && plausibleIin(digits)) best = b;
      }
      if (best >= 0) {
        out.push({ start: starts[a] ?? 0, end: ends[best] ?? 0, type: 'pan', detector });
        a = best + 1;
      } else {
        a++;
      }
    }
    i = runEnd;
  }
}

/** Area 001–899 except 666, group 01–99, serial 0001–9999 (SSA rules). */
function validSsnParts(text: string, area: number, group: number, serial: number): boolean {
  const a = Number(text.slice(area, area + 3));
  const g = Number(text.slice(group, group + 2));
  const s = Number(text.slice(serial, serial + 4));
  return a !== 0 && a !== 666 && a < 900 && g !== 0 && s !== 0;
}

function allDigits(text: string, from: number, count: number): boolean {
  for (let k = from; k < from + count; k++) if (!isDigit(codeAt(text, k))) return false;
  return true;
}

const SSN_CONTEXT_WINDOW = 40;
const SSN_KEYWORDS = ['ssn', 'social security', 'soc sec', 'ss#'];

/** A bare 9-digit number is an SSN only when a keyword precedes it closely. */
function ssnContextBefore(text: string, i: number): boolean {
  const from = Math.max(0, i - SSN_CONTEXT_WINDOW);
  const window = text.slice(from, i).toLowerCase();
  for (const kw of SSN_KEYWORDS) {
    let at = window.indexOf(kw);
    while (at >= 0) {
      if (!isAlpha(codeAt(window, at - 1))) return true;
      at = window.indexOf(kw, at + 1);
    }
  }
  return false;
}

/**
 * US SSNs: AAA-GG-SSSS (or spaces, the same separator twice) anywhere, and a
 * bare 9-digit number only after a keyword like "SSN" or "social security".
 * Ranges that the SSA never issues (area 000/666/900–999, group 00, serial
 * 0000) are not SSNs.
 */
export function scanSsn(text: string, out: Match[], detector: number): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isDigit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    let k = i;
    while (k < n && isDigit(text.charCodeAt(k))) k++;
    if (leftClear(text, i) && !isSepDigitBefore(text, i)) {
      if (k - i === 3) {
        const sep = codeAt(text, k);
        if (
          (sep === CH.minus || sep === CH.space) &&
          allDigits(text, k + 1, 2) &&
          codeAt(text, k + 3) === sep &&
          allDigits(text, k + 4, 4) &&
          rightClear(text, k + 8) &&
          !isSepDigitAfter(text, k + 8) &&
          validSsnParts(text, i, k + 1, k + 4)
        ) {
          out.push({ start: i, end: k + 8, type: 'ssn', detector });
          i = k + 8;
          continue;
        }
      } else if (
        k - i === 9 &&
        rightClear(text, k) &&
        !isSepDigitAfter(text, k) &&
        validSsnParts(text, i, i + 3, i + 5) &&
        ssnContextBefore(text, i)
      ) {
        out.push({ start: i, end: k, type: 'ssn', detector });
      }
    }
    i = k;
  }
}

/** '12-' before a number: the number is the tail of a longer dashed sequence. */
function isSepDigitBefore(text: string, i: number): boolean {
  const p = codeAt(text, i - 1);
  return (p === CH.minus || p === CH.slash) && isDigit(codeAt(text, i - 2));
}

function isSepDigitAfter(text: string, end: number): boolean {
  const c = codeAt(text, end);
  return (c === CH.minus || c === CH.slash) && isDigit(codeAt(text, end + 1));
}

const isPhoneSep = (c: number): boolean => c === CH.space || c === CH.minus || c === CH.dot;

/** NXX: three digits, the first 2–9 (NANP area codes and exchanges). */
function nxx(text: string, j: number): boolean {
  const c = codeAt(text, j);
  return c >= 50 && c <= 57 && isDigit(codeAt(text, j + 1)) && isDigit(codeAt(text, j + 2));
}

function phoneRightClear(text: string, end: number): boolean {
  const c = codeAt(text, end);
  if (isWord(c)) return false;
  return !((c === CH.minus || c === CH.dot) && isDigit(codeAt(text, end + 1)));
}

/** '+' then 8–15 digits (10+ when written without separators), single separators, optional "(0)" groups. */
function parseE164(text: string, i: number): number {
  let j = i + 1;
  const c0 = codeAt(text, j);
  if (c0 < 49 || c0 > 57) return -1;
  let digits = 0;
  let seps = 0;
  let lastEnd = -1;
  let canSep = false;
  for (;;) {
    const c = codeAt(text, j);
    if (isDigit(c)) {
      if (++digits > 15) return -1;
      j++;
      lastEnd = j;
      canSep = true;
      continue;
    }
    if (canSep && isPhoneSep(c)) {
      const d = codeAt(text, j + 1);
      if (isDigit(d) || d === CH.lparen) {
        j++;
        seps++;
        canSep = false;
        continue;
      }
      break;
    }
    if (c === CH.lparen && digits > 0) {
      let k = j + 1;
      let m = 0;
      while (m < 5 && isDigit(codeAt(text, k))) {
        k++;
        m++;
      }
      if (m === 0 || codeAt(text, k) !== CH.rparen) break;
      digits += m;
      if (digits > 15) return -1;
      seps++;
      j = k + 1;
      lastEnd = j;
      canSep = true;
      continue;
    }
    break;
  }
  if (digits < (seps > 0 ? 8 : 10)) return -1;
  return phoneRightClear(text, lastEnd) ? lastEnd : -1;
}

/** NANP: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, NXX NXX XXXX, optionally after "1" and a separator. */
function parseNanp(text: string, i: number): number {
  let j = i;
  if (codeAt(text, j) === 49 && isPhoneSep(codeAt(text, j + 1))) {
    const d = codeAt(text, j + 2);
    if (isDigit(d) || d === CH.lparen) j += 2;
  }
  if (codeAt(text, j) === CH.lparen) {
    if (!nxx(text, j + 1) || codeAt(text, j + 4) !== CH.rparen) return -1;
    j += 5;
    if (codeAt(text, j) === CH.space) j++;
    if (!nxx(text, j)) return -1;
    j += 3;
    if (!isPhoneSep(codeAt(text, j)) || !allDigits(text, j + 1, 4)) return -1;
    j += 5;
  } else {
    const sep = codeAt(text, j + 3);
    if (!nxx(text, j) || !isPhoneSep(sep)) return -1;
    if (!nxx(text, j + 4) || codeAt(text, j + 7) !== sep || !allDigits(text, j + 8, 4)) return -1;
    j += 12;
  }
  return phoneRightClear(text, j) ? j : -1;
}

function phoneLeftClear(text: string, i: number): boolean {
  const p = codeAt(text, i - 1);
  if (isWord(p) || p === CH.plus) return false;
  return !((p === CH.minus || p === CH.dot) && isDigit(codeAt(text, i - 2)));
}

/**
 * Phone numbers with structure: E.164 ('+' and country code) or NANP with
 * separators or parentheses. A bare run of digits is not a phone number
 * (it could be anything), so plain "5551234567" is not matched.
 */
export function scanPhone(text: string, out: Match[], detector: number): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === CH.plus) {
      const p = codeAt(text, i - 1);
      if (!isWord(p) && p !== CH.plus) {
        const end = parseE164(text, i);
        if (end > 0) {
          out.push({ start: i, end, type: 'phone', detector });
          i = end;
          continue;
        }
      }
      i++;
      continue;
    }
    if (c === CH.lparen || isDigit(c)) {
      if (phoneLeftClear(text, i)) {
        const end = parseNanp(text, i);
        if (end > 0) {
          out.push({ start: i, end, type: 'phone', detector });
          i = end;
          continue;
        }
      }
      // Never start inside a digit run.
      i++;
      if (isDigit(c)) while (i < n && isDigit(text.charCodeAt(i))) i++;
      continue;
    }
    i++;
  }
}
