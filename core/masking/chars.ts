// Character-class helpers for the hand-written scanners (UTF-16 code units).

export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
export const isUpper = (c: number): boolean => c >= 65 && c <= 90;
export const isLower = (c: number): boolean => c >= 97 && c <= 122;
export const isAlpha = (c: number): boolean => isUpper(c) || isLower(c);
export const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
/** Letters, digits and '_': a match must not start or end inside such a run. */
export const isWord = (c: number): boolean => isAlnum(c) || c === 95;
export const isBase64Url = (c: number): boolean => isAlnum(c) || c === 45 || c === 95;

/** Code unit at i, or -1 outside the string (so boundary checks need no length test). */
export function codeAt(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : -1;
}

export const CH = {
  space: 32,
  plus: 43,
  minus: 45,
  dot: 46,
  slash: 47,
  lparen: 40,
  rparen: 41,
  at: 64,
  underscore: 95,
  hash: 35,
  comma: 44,
} as const;
