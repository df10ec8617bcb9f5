// A pure-JavaScript shape key for the common case, in front of libpg-query's
// normalize() (shape-key.ts), which costs microseconds of WebAssembly per
// statement. One left-to-right pass over the text; no regular expressions.
//
// It accepts a deliberately small language and answers undefined for
// anything else: single or several SELECT / INSERT / UPDATE / DELETE /
// VALUES statements made of plain identifiers, "quoted identifiers",
// operators, punctuation and three kinds of constants: unsigned decimal
// numbers (`42`, `1.5`), standard strings without `''` or backslashes
// (`'abc'`), and NULL / TRUE / FALSE. A constant preceded by a unary minus
// (`= -5`, `+ -2345`) is one constant, as PostgreSQL's grammar folds it.
// Each constant becomes `$n`, numbered in order, everything else is copied,
// which is what normalize() returns for these texts. Where normalize()
// numbers constants out of text order (LIMIT before OFFSET, WITH, set
// operations, UPDATE … FROM, UPDATE SET (a, b) = …), keeps a constant
// (ORDER BY / GROUP BY positions, type modifiers like varchar(10), LIMIT ALL)
// or replaces a keyword (EXTRACT(year …), AT TIME ZONE, TRIM, …), this
// scanner bails. Bails also on comments, `$` (parameters, dollar quotes),
// backslashes, prefixed strings (E'', B'', X'', N'', U&''), `''` and string
// continuation, numbers touching a letter, `_`, `.` or `$` (`1e5`, `1_000`,
// `0x1F`, `.5`, `1.`), non-ASCII outside quotes, NUL and lone surrogates.
//
// Why a fast key may stand in for normalize() (SqlClassifier relies on it):
// the classifier stores a shape entry for the fast path only after checking,
// for that text B, that fastShapeKey(B).key === normalizeSync(B), and it
// records B's constant classes. A later text C with the same fast key and
// the same classes differs from B only inside constants: the copied parts
// are identical (no `$` outside constants, so placeholders cannot be
// confused), and each constant is replaced by one of its class (digits only,
// same integer-or-float token; string content without quote, backslash or
// NUL; the same keyword; the same sign), for which PostgreSQL's scanner
// produces the same token sequence, except for the values. The grammar's
// choices depend only on tokens, so C parses to the same tree with other
// values, normalize() finds the same constants at the corresponding places,
// and normalizeSync(C) === fastShapeKey(C).key. (A grammar action may still
// reject a value, e.g. float(0); C then fails on the server as it should.)
// The check on B settles the grammar-level questions (which constants
// normalize() replaces, in which order); what C relies on beyond it is this
// scanner's lexical reading of where each constant starts and ends and of
// its class, which the bail rules keep to the simplest tokens.
// fast-shape-key.test.ts checks the equality on a corpus and by fuzzing.

import { MAX_SHAPE_TEXT_LENGTH } from './shape-key.js';
import { KeywordCategory, allKeywords, keywordCategory } from './sql-keywords.js';

export interface FastShapeKey {
  /** normalizeSync(text) for the texts this scanner accepts. */
  key: string;
  /**
   * One letter per constant, in order: `i` integer that fits in 32 bits,
   * `f` decimal or larger integer (both are PostgreSQL's float constant),
   * `s` string, `n` NULL, `t` TRUE, `b` FALSE; upper case when folded with
   * a unary minus.
   */
  classes: string;
}

// Token kinds.
const T_NONE = 0;
const T_IDENT = 1;
const T_QIDENT = 2;
const T_LITERAL = 3;
const T_OP = 4;
const T_LPAREN = 5;
const T_RPAREN = 6;
const T_LBRACK = 7;
const T_RBRACK = 8;
const T_COMMA = 9;
const T_DOT = 10;
const T_COLON = 11;
const T_TYPECAST = 12;

// What a keyword means to the scanner (bits).
const R_STARTER = 1 << 0; // may start a statement
const R_BAIL = 1 << 1; // normalize() reorders or replaces something around it
const R_BY = 1 << 2; // ORDER BY / GROUP BY / PARTITION BY: positional constants follow
const R_LIMIT = 1 << 3; // LIMIT / FETCH: an OFFSET after it is numbered first
const R_OFFSET = 1 << 4;
const R_LIST_END = 1 << 5; // ends a BY list
const R_AS = 1 << 6; // a type name may follow (CAST(x AS numeric(10,2)))
const R_FROM = 1 << 7;
const R_SET = 1 << 8;
const R_SET_END = 1 << 9;
const R_CONST = 1 << 10; // NULL, TRUE, FALSE
const R_IS = 1 << 11;
const R_NOT = 1 << 12;
const R_ALL = 1 << 13;
const R_TYPMOD_PAREN = 1 << 14; // a `(` after it holds a type modifier, not a constant
const R_UNARY = 1 << 15; // a `-` right after it is a unary minus
const R_EXPR_END = 1 << 16; // an expression ends with it: a `-` after it subtracts
const R_UPDATE = 1 << 17;
const R_GROUP = 1 << 18; // GROUP BY: normalize() may reuse the target list's numbers there
const R_ORDER = 1 << 19;
const R_HAVING_WINDOW = 1 << 20; // normalize() numbers ORDER BY before HAVING and WINDOW
const R_BETWEEN = 1 << 21; // an operator after an expression, a column name at its start
const R_VALUES = 1 << 22; // normalize() numbers ORDER BY before VALUES lists

const ROLES: Record<string, number> = {
  select: R_STARTER | R_UNARY,
  insert: R_STARTER,
  update: R_STARTER | R_UPDATE,
  delete: R_STARTER,
  values: R_STARTER | R_VALUES,
  // Constants numbered out of text order, keywords turned into constants, type modifiers.
  with: R_BAIL, union: R_BAIL, intersect: R_BAIL, except: R_BAIL, at: R_BAIL,
  position: R_BAIL, substring: R_BAIL, trim: R_BAIL, extract: R_BAIL, normalize: R_BAIL, normalized: R_BAIL,
  nfc: R_BAIL, nfd: R_BAIL, nfkc: R_BAIL, nfkd: R_BAIL, collate: R_BAIL, operator: R_BAIL, uescape: R_BAIL,
  merge: R_BAIL, merge_action: R_BAIL,
  by: R_BY,
  order: R_ORDER | R_LIST_END,
  group: R_GROUP | R_LIST_END,
  partition: R_LIST_END,
  limit: R_LIMIT | R_LIST_END | R_UNARY,
  fetch: R_LIMIT | R_LIST_END,
  offset: R_OFFSET | R_LIST_END | R_UNARY,
  having: R_LIST_END | R_HAVING_WINDOW | R_UNARY,
  window: R_LIST_END | R_HAVING_WINDOW,
  for: R_LIST_END | R_UNARY,
  returning: R_LIST_END | R_SET_END | R_UNARY,
  into: R_LIST_END,
  as: R_AS,
  from: R_FROM | R_SET_END | R_UNARY,
  where: R_SET_END | R_UNARY,
  set: R_SET,
  null: R_CONST | R_EXPR_END,
  true: R_CONST | R_EXPR_END,
  false: R_CONST | R_EXPR_END,
  is: R_IS,
  between: R_BETWEEN,
  not: R_NOT | R_UNARY,
  all: R_ALL | R_UNARY,
  second: R_TYPMOD_PAREN,
  current_time: R_TYPMOD_PAREN | R_EXPR_END,
  current_timestamp: R_TYPMOD_PAREN | R_EXPR_END,
  localtime: R_TYPMOD_PAREN | R_EXPR_END,
  localtimestamp: R_TYPMOD_PAREN | R_EXPR_END,
  // Reserved words an expression may follow (so a `-` after them is unary) ...
  and: R_UNARY, or: R_UNARY, distinct: R_UNARY, when: R_UNARY, then: R_UNARY, else: R_UNARY,
  case: R_UNARY, on: R_UNARY, to: R_UNARY, like: R_UNARY, ilike: R_UNARY, both: R_UNARY,
  leading: R_UNARY, trailing: R_UNARY, placing: R_UNARY, symmetric: R_UNARY, asymmetric: R_UNARY,
  // ... or that end one.
  end: R_EXPR_END, current_date: R_EXPR_END, current_user: R_EXPR_END, session_user: R_EXPR_END,
  user: R_EXPR_END, current_role: R_EXPR_END, current_catalog: R_EXPR_END, system_user: R_EXPR_END,
  current_schema: R_EXPR_END,
};

interface Keyword {
  /** Lowercase. */
  word: string;
  category: KeywordCategory;
  role: number;
}

/** The hash of an identifier's characters with ASCII letters folded to lower case. */
function step(h: number, c: number): number {
  return (Math.imul(h, 31) + (c | 32)) | 0;
}

for (const word of Object.keys(ROLES)) {
  if (keywordCategory(word) === undefined) throw new Error(`fast shape key: ${word} is not a keyword`);
}

// An open-addressing table from identifier hash to keyword: a Map with
// number keys is several times slower here (hashes outside the small-integer
// range are boxed).
const TABLE_BITS = 12;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
const KEYWORDS: Keyword[] = [];
const SLOT_KEYWORD = new Int32Array(1 << TABLE_BITS); // index + 1 into KEYWORDS, 0 when empty
const SLOT_HASH = new Int32Array(1 << TABLE_BITS);
for (const word of allKeywords()) {
  let h = 0;
  for (let k = 0; k < word.length; k++) h = step(h, word.charCodeAt(k));
  const category = keywordCategory(word);
  if (category === undefined) continue;
  KEYWORDS.push({ word, category, role: ROLES[word] ?? 0 });
  let slot = h & TABLE_MASK;
  while (SLOT_KEYWORD[slot] !== 0) slot = (slot + 1) & TABLE_MASK;
  SLOT_KEYWORD[slot] = KEYWORDS.length;
  SLOT_HASH[slot] = h;
}

/** The keyword text[start, end) is (hash h), ignoring ASCII case, or undefined. */
function lookupKeyword(h: number, text: string, start: number, end: number): Keyword | undefined {
  let slot = h & TABLE_MASK;
  for (;;) {
    const k = SLOT_KEYWORD[slot] ?? 0;
    if (k === 0) return undefined;
    if (SLOT_HASH[slot] === h) {
      const kw = KEYWORDS[k - 1];
      if (kw !== undefined && sameWord(text, start, end, kw.word)) return kw;
    }
    slot = (slot + 1) & TABLE_MASK;
  }
}

// Character classes of ASCII (anything else is C_BAD outside quotes).
const C_BAD = 0;
const C_SPACE = 1;
const C_LETTER = 2; // and _
const C_DIGIT = 3;
const C_OP = 4;
const C_QUOTE = 5;
const C_DQUOTE = 6;
const C_LPAREN = 7;
const C_RPAREN = 8;
const C_COMMA = 9;
const C_SEMI = 10;
const C_DOT = 11;
const C_COLON = 12;
const C_LBRACK = 13;
const C_RBRACK = 14;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (' \t\n\r\f'.includes(ch)) CLASS[c] = C_SPACE; // not \v: PostgreSQL 15 does not take it for space
  else if (/[A-Za-z_]/.test(ch)) CLASS[c] = C_LETTER;
  else if (/[0-9]/.test(ch)) CLASS[c] = C_DIGIT;
  else if ('~!@#^&|`?+-*/%<>='.includes(ch)) CLASS[c] = C_OP; // scan.l's op_chars
  else CLASS[c] = ({ "'": C_QUOTE, '"': C_DQUOTE, '(': C_LPAREN, ')': C_RPAREN, ',': C_COMMA, ';': C_SEMI, '.': C_DOT, ':': C_COLON, '[': C_LBRACK, ']': C_RBRACK } as Record<string, number>)[ch] ?? C_BAD;
}

const IDENT_CHAR = CLASS.map((k) => (k === C_LETTER || k === C_DIGIT ? 1 : 0));

function classOf(c: number): number {
  return c < 128 ? (CLASS[c] ?? C_BAD) : C_BAD;
}

function isIdentChar(c: number): boolean {
  const k = classOf(c);
  return k === C_LETTER || k === C_DIGIT;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isSpace(c: number): boolean {
  return classOf(c) === C_SPACE;
}

/** Characters that keep a trailing + or - inside a multi-character operator (scan.l). */
function isQualifyingOpChar(c: number): boolean {
  switch (c) {
    case 126: case 33: case 64: case 35: case 94: case 38: case 124: case 96: case 63: case 37:
      return true;
    default:
      return false;
  }
}

// Answers of minusIsUnary and constContext.
const BAIL = 0;
const UNARY = 1;
const BINARY = 2;
const CONSTANT = 3;
const NAME = 4;

// The scanner's state for one call. One instance is reused: scan() runs to
// completion synchronously and never re-enters itself.
class Scanner {
  text = '';
  key = '';
  classes = '';
  copied = 0;
  count = 0;
  // The statement being scanned.
  first = true;
  sawStatement = false;
  isUpdate = false;
  sawLimit = false;
  typeCtx = false;
  pendingNeg = false;
  depth = 0;
  brackets = 0;
  byMask = 0;
  groupMask = 0;
  sawHavingOrWindow = false;
  sawValues = false;
  setDepth = -1;
  // The last three tokens (kind, single-character operator, keyword, after a `.`, span).
  k1 = T_NONE; op1 = 0; kw1: Keyword | undefined = undefined; dot1 = false; s1 = 0; e1 = 0;
  k2 = T_NONE; op2 = 0; kw2: Keyword | undefined = undefined; dot2 = false;
  k3 = T_NONE; kw3: Keyword | undefined = undefined; dot3 = false;

  private reset(text: string): void {
    this.text = text;
    this.key = '';
    this.classes = '';
    this.copied = 0;
    this.count = 0;
    this.sawStatement = false;
    this.depth = 0;
    this.brackets = 0;
    this.newStatement();
  }

  /** Drop references to the last text. */
  release(): void {
    this.text = '';
    this.key = '';
  }

  private newStatement(): void {
    this.first = true;
    this.isUpdate = false;
    this.sawLimit = false;
    this.typeCtx = false;
    this.pendingNeg = false;
    this.byMask = 0;
    this.groupMask = 0;
    this.sawHavingOrWindow = false;
    this.sawValues = false;
    this.setDepth = -1;
    this.k1 = this.k2 = this.k3 = T_NONE;
    this.kw1 = this.kw2 = this.kw3 = undefined;
  }

  private push(kind: number, op: number, kw: Keyword | undefined, dot: boolean, start: number, end: number): void {
    this.k3 = this.k2; this.kw3 = this.kw2; this.dot3 = this.dot2;
    this.k2 = this.k1; this.op2 = this.op1; this.kw2 = this.kw1; this.dot2 = this.dot1;
    this.k1 = kind; this.op1 = op; this.kw1 = kw; this.dot1 = dot; this.s1 = start; this.e1 = end;
  }

  scan(text: string): FastShapeKey | undefined {
    this.reset(text);
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      const k = classOf(c);
      if (k === C_SPACE) {
        i++;
        continue;
      }
      // A folded negative constant ends here: what binds tighter than unary minus
      // (`::`, `[`, `(`, `.`, COLLATE) would make normalize() keep the `-` outside.
      const neg = this.pendingNeg;
      this.pendingNeg = false;
      // A statement starts with its keyword (SELECT, not `(SELECT`).
      if (this.first && k !== C_LETTER && k !== C_SEMI) return undefined;
      let next: number;
      switch (k) {
        case C_LETTER: next = this.identifier(i); break;
        case C_DIGIT: next = this.number(i); break;
        case C_QUOTE: next = this.string(i); break;
        case C_DQUOTE: next = this.quotedIdentifier(i); break;
        case C_OP: next = this.operator(i); break;
        case C_LPAREN: next = this.openParen(i, neg); break;
        case C_RPAREN: next = this.closeParen(i); break;
        case C_COMMA:
          this.typeCtx = false;
          this.push(T_COMMA, 0, undefined, false, i, i + 1);
          next = i + 1;
          break;
        case C_SEMI: next = this.semicolon(i); break;
        case C_DOT: next = this.dot(i, neg); break;
        case C_COLON: next = this.colon(i, neg); break;
        case C_LBRACK:
          if (this.typeCtx || neg) return undefined;
          this.brackets++;
          this.push(T_LBRACK, 0, undefined, false, i, i + 1);
          next = i + 1;
          break;
        case C_RBRACK:
          if (--this.brackets < 0) return undefined;
          this.typeCtx = false;
          this.push(T_RBRACK, 0, undefined, false, i, i + 1);
          next = i + 1;
          break;
        default:
          return undefined; // $, \, {, }, control characters, non-ASCII
      }
      if (next < 0) return undefined;
      i = next;
    }
    if (this.depth !== 0 || this.brackets !== 0 || !this.sawStatement) return undefined;
    const key = this.copied === 0 ? text : this.key + text.slice(this.copied);
    return { key, classes: this.classes };
  }

  private identifier(start: number): number {
    const text = this.text;
    const n = text.length;
    let i = start;
    let h = 0;
    let c = 0;
    while (i < n) {
      c = text.charCodeAt(i);
      if (c >= 128 || IDENT_CHAR[c] === 0) break;
      h = step(h, c);
      i++;
    }
    // `$` continues an identifier in PostgreSQL; anything non-ASCII would too.
    if (i < n && (c === 36 || c >= 128)) return -1;
    const kw = lookupKeyword(h, text, start, i);
    const role = kw === undefined ? 0 : kw.role;
    const afterDot = this.k1 === T_DOT;
    if (this.first) {
      if ((role & R_STARTER) === 0) return -1;
      this.first = false;
      this.sawStatement = true;
      this.isUpdate = (role & R_UPDATE) !== 0;
    }
    if (kw !== undefined) {
      if (role & R_BAIL) return -1;
      if (role & R_CONST) {
        const how = this.constContext();
        if (how === BAIL) return -1;
        if (how === CONSTANT) return this.literal(start, i, kw.word === 'null' ? 'n' : kw.word === 'true' ? 't' : 'b');
      }
      if (role & R_LIMIT) this.sawLimit = true;
      if (role & R_OFFSET && this.sawLimit) return -1;
      if (role & R_LIST_END) {
        this.byMask &= ~(1 << this.depth);
        this.groupMask &= ~(1 << this.depth);
      }
      if (role & R_BY) {
        if (this.k1 === T_IDENT && this.kw1 !== undefined && this.kw1.role & R_GROUP) this.groupMask |= 1 << this.depth;
        else this.byMask |= 1 << this.depth;
      }
      if (role & R_HAVING_WINDOW) this.sawHavingOrWindow = true;
      if (role & R_VALUES) this.sawValues = true;
      if (role & R_ORDER && (this.sawHavingOrWindow || this.sawValues)) return -1;
      // LIMIT ALL is a NULL constant placed at ALL.
      if (role & R_ALL && this.k1 === T_IDENT && this.kw1 !== undefined && this.kw1.role & R_LIMIT) return -1;
      // UPDATE ... FROM: normalize() numbers WHERE before FROM. (IS DISTINCT FROM is no FROM clause.)
      if (role & R_FROM && this.isUpdate && this.depth === 0 && !(this.k1 === T_IDENT && this.kw1?.word === 'distinct')) return -1;
      if (role & R_SET) this.setDepth = this.depth;
      if (role & R_SET_END && this.setDepth === this.depth) this.setDepth = -1;
      if (kw.category >= KeywordCategory.TypeFuncName) this.typeCtx = false;
      if (role & R_AS) this.typeCtx = true;
    }
    this.push(T_IDENT, 0, kw, afterDot, start, i);
    return i;
  }

  /**
   * Whether NULL / TRUE / FALSE here is a constant (where an expression
   * starts), a name (after IS, IS NOT, AS, `.`), or unclear: after an
   * expression it is a column label (`SELECT a TRUE` is `SELECT a AS "true"`).
   */
  private constContext(): number {
    switch (this.k1) {
      case T_DOT:
        return NAME;
      case T_OP:
        return this.op1 === 42 && this.k2 === T_DOT ? BAIL : CONSTANT; // t.* TRUE
      case T_LPAREN:
      case T_COMMA:
      case T_LBRACK:
      case T_COLON:
        return CONSTANT;
      case T_IDENT: {
        const kw = this.kw1;
        if (kw === undefined || this.dot1) return BAIL;
        if (kw.role & (R_IS | R_AS)) return NAME;
        if (kw.role & R_NOT && this.k2 === T_IDENT && this.kw2 !== undefined && this.kw2.role & R_IS) return NAME;
        return kw.role & R_UNARY ? CONSTANT : BAIL;
      }
      default:
        return BAIL;
    }
  }

  private number(start: number): number {
    const text = this.text;
    const n = text.length;
    if (start > 0 && text.charCodeAt(start - 1) === 46) return -1; // .5, t.5
    let i = start;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    let cls = 'i';
    if (i < n && text.charCodeAt(i) === 46) {
      i++;
      if (!(i < n && isDigit(text.charCodeAt(i)))) return -1; // 1. 1.e5 1..2
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      cls = 'f';
    } else {
      cls = fitsInt32(text, start, i) ? 'i' : 'f';
    }
    if (i < n) {
      const c = text.charCodeAt(i);
      // 1e5, 0x1F, 1_000, 1abc, 1.5.6, 1$: other tokens or errors, and not PostgreSQL 15's.
      if (isIdentChar(c) || c === 46 || c === 36 || c >= 128) return -1;
    }
    return this.literal(start, i, cls);
  }

  private string(start: number): number {
    const text = this.text;
    const n = text.length;
    const before = start > 0 ? text.charCodeAt(start - 1) : 32;
    // E'', B'', X'', N'', U&'' and friends, or a string glued to a word or another quote.
    if (isIdentChar(before) || before === 38 || before === 34 || before === 36 || before >= 128) return -1;
    // numeric(10,2) '1.5': the (10,2) is a type modifier normalize() keeps.
    if (this.k1 === T_RPAREN) return -1;
    let i = start + 1;
    for (;;) {
      if (i >= n) return -1;
      const c = text.charCodeAt(i);
      if (c === 39) break;
      if (!contentChar(text, i, c)) return -1;
      i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    }
    i++;
    if (i < n) {
      const c = text.charCodeAt(i);
      // '' (an escaped quote), or a string glued to what follows.
      if (c === 39 || c === 34 || c === 36 || isIdentChar(c) || c >= 128) return -1;
    }
    // 'a'<newline>'b' is one string constant; 'a' 'b' an error.
    let j = i;
    while (j < n && isSpace(text.charCodeAt(j))) j++;
    if (j < n && text.charCodeAt(j) === 39) return -1;
    return this.literal(start, i, 's');
  }

  private quotedIdentifier(start: number): number {
    const text = this.text;
    const n = text.length;
    const before = start > 0 ? text.charCodeAt(start - 1) : 32;
    if (isIdentChar(before) || before === 38 || before === 39 || before === 36 || before >= 128) return -1; // U&"..."
    let i = start + 1;
    for (;;) {
      if (i >= n) return -1;
      const c = text.charCodeAt(i);
      if (c === 34) {
        if (i + 1 < n && text.charCodeAt(i + 1) === 34) {
          i += 2;
          continue;
        }
        break;
      }
      if (!contentChar(text, i, c)) return -1;
      i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    }
    i++;
    this.push(T_QIDENT, 0, undefined, false, start, i);
    return i;
  }

  private operator(start: number): number {
    const text = this.text;
    const n = text.length;
    let i = start;
    let qualifying = false;
    let c = 0;
    while (i < n && classOf((c = text.charCodeAt(i))) === C_OP) {
      if (i + 1 < n) {
        const d = text.charCodeAt(i + 1);
        if ((c === 45 && d === 45) || (c === 47 && d === 42)) return -1; // -- and /* start comments
      }
      if (isQualifyingOpChar(c)) qualifying = true;
      if (c === 38 && i > 0 && (text.charCodeAt(i - 1) | 32) === 117) return -1; // U&: shapeEligible refuses it
      i++;
    }
    this.typeCtx = false;
    const last = text.charCodeAt(i - 1);
    if (i - start === 1) {
      this.push(T_OP, last, undefined, false, start, i);
    } else if ((last === 43 || last === 45) && !qualifying) {
      // scan.l: a multi-character operator does not end in + or - unless it has a
      // qualifying character; the trailing + and - are separate tokens (`=-5`).
      let p = i - 1;
      while (p > start && (text.charCodeAt(p - 1) === 43 || text.charCodeAt(p - 1) === 45)) p--;
      if (p > start) this.push(T_OP, p - start === 1 ? text.charCodeAt(start) : 0, undefined, false, start, p);
      for (let q = p; q < i; q++) this.push(T_OP, text.charCodeAt(q), undefined, false, q, q + 1);
    } else {
      this.push(T_OP, 0, undefined, false, start, i);
    }
    return i;
  }

  private openParen(i: number, neg: boolean): number {
    if (this.typeCtx || neg) return -1;
    // -(1): the grammar folds the minus into the constant inside, and normalize() mis-measures it.
    if (this.k1 === T_OP && this.op1 === 45 && this.minusIsUnary() !== BINARY) return -1;
    const kw1 = this.k1 === T_IDENT ? this.kw1 : undefined;
    // current_timestamp(3), interval '1' second(3): type modifiers.
    if (kw1 !== undefined && kw1.role & R_TYPMOD_PAREN) return -1;
    // SET (a, b) = (1, 2): normalize() numbers the row's constants once per column.
    if (kw1 !== undefined && kw1.role & R_SET) return -1;
    if (this.k1 === T_COMMA && this.setDepth === this.depth) return -1;
    if (++this.depth > 30) return -1;
    this.push(T_LPAREN, 0, undefined, false, i, i + 1);
    return i + 1;
  }

  private closeParen(i: number): number {
    if (this.depth === 0) return -1;
    // A BY list inside the parentheses ends with them.
    this.byMask &= (1 << this.depth) - 1;
    this.groupMask &= (1 << this.depth) - 1;
    if (this.setDepth >= this.depth) this.setDepth = -1;
    this.depth--;
    this.typeCtx = false;
    this.push(T_RPAREN, 0, undefined, false, i, i + 1);
    return i + 1;
  }

  private semicolon(i: number): number {
    if (this.depth !== 0 || this.brackets !== 0) return -1;
    this.newStatement();
    return i + 1;
  }

  private dot(i: number, neg: boolean): number {
    const text = this.text;
    const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    if (neg || isDigit(d) || d === 46) return -1; // .5, ..
    this.push(T_DOT, 0, undefined, false, i, i + 1);
    return i + 1;
  }

  private colon(i: number, neg: boolean): number {
    const text = this.text;
    const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    if (d === 58) {
      if (neg) return -1; // -5::text casts 5, then negates
      this.typeCtx = true;
      this.push(T_TYPECAST, 0, undefined, false, i, i + 2);
      return i + 2;
    }
    this.typeCtx = false;
    if (d === 61) {
      this.push(T_OP, 0, undefined, false, i, i + 2); // := (named argument)
      return i + 2;
    }
    this.push(T_COLON, 0, undefined, false, i, i + 1);
    return i + 1;
  }

  /** Whether the standalone `-` just before a constant is a unary minus (the grammar folds it into the constant). */
  private minusIsUnary(): number {
    switch (this.k2) {
      case T_OP:
        if (this.op2 === 45) return BAIL; // - -5: normalize() mis-measures a double negation
        if (this.op2 === 42 && this.k3 === T_DOT) return BAIL; // t.* - 5
        return UNARY;
      case T_LPAREN:
      case T_COMMA:
      case T_LBRACK:
      case T_COLON:
        return UNARY;
      case T_RPAREN:
      case T_RBRACK:
      case T_LITERAL:
      case T_QIDENT:
        return BINARY;
      case T_IDENT: {
        const kw = this.kw2;
        if (this.dot2 || kw === undefined) return BINARY; // a column or other name
        if (kw.role & R_UNARY) return UNARY;
        if (kw.role & R_EXPR_END) return BINARY;
        // x BETWEEN -5 AND 5, but SELECT between - 5 (a column).
        if (kw.role & R_BETWEEN) return endsOperand(this.k3, this.kw3, this.dot3) ? UNARY : BAIL;
        return BAIL; // a keyword that may be a column name (first, value) or that this scanner does not know
      }
      default:
        return BAIL;
    }
  }

  /** The constant text[start, end) (or the `-` before it and it) becomes `$n`. */
  private literal(start: number, end: number, cls: string): number {
    if (this.first) return -1;
    let from = start;
    let negative = false;
    let before = this.k1;
    let beforeKw = this.kw1;
    if (this.k1 === T_OP && this.op1 === 45) {
      const how = this.minusIsUnary();
      if (how === BAIL) return -1;
      if (how === UNARY) {
        if (this.e1 !== start) return -1; // `- 5`: normalize() folds the space too
        from = this.s1;
        negative = true;
        before = this.k2;
        beforeKw = this.kw2;
      }
    }
    // GROUP BY a + 1: normalize() gives it the number of a matching output column.
    if (this.groupMask !== 0) return -1;
    // ORDER BY 2, ORDER BY (1), ORDER BY a, -1: sort positions, which normalize() keeps.
    if (this.byMask !== 0 && (before === T_COMMA || before === T_LPAREN || (before === T_IDENT && beforeKw !== undefined && (beforeKw.role & R_BY) !== 0))) return -1;
    this.key += this.text.slice(this.copied, from) + '$' + ++this.count;
    this.copied = end;
    this.classes += negative ? cls.toUpperCase() : cls;
    this.pendingNeg = negative;
    this.typeCtx = false;
    if (negative) {
      // The `-` and the constant are one token now.
      this.k1 = T_LITERAL; this.op1 = 0; this.kw1 = undefined; this.dot1 = false; this.s1 = from; this.e1 = end;
    } else {
      this.push(T_LITERAL, 0, undefined, false, from, end);
    }
    return end;
  }
}

/** Whether a token of this kind (keyword, after a `.`) ends an operand. */
function endsOperand(kind: number, kw: Keyword | undefined, afterDot: boolean): boolean {
  switch (kind) {
    case T_LITERAL:
    case T_QIDENT:
    case T_RPAREN:
    case T_RBRACK:
      return true;
    case T_IDENT:
      return afterDot || kw === undefined || (kw.role & R_EXPR_END) !== 0;
    default:
      return false;
  }
}

/** Inside a string or quoted identifier: no NUL, backslash, `$`, `u&`, lone surrogate. */
function contentChar(text: string, i: number, c: number): boolean {
  if (c === 0 || c === 92 || c === 36) return false;
  if (c === 38 && i > 0 && (text.charCodeAt(i - 1) | 32) === 117) return false; // u& (shapeEligible refuses it anywhere)
  if (c >= 0xd800 && c <= 0xdfff) {
    if (c >= 0xdc00) return false;
    const d = text.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff;
  }
  return true;
}

/** Whether an identifier text[start, end) equals a lowercase keyword, ignoring ASCII case. */
function sameWord(text: string, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) {
    if ((text.charCodeAt(start + k) | 32) !== (word.charCodeAt(k) | 32)) return false;
  }
  return true;
}

/** Whether the digits text[start, end) fit in a 32-bit signed integer (PostgreSQL's ICONST; else FCONST). */
function fitsInt32(text: string, start: number, end: number): boolean {
  let p = start;
  while (p < end - 1 && text.charCodeAt(p) === 48) p++;
  const len = end - p;
  if (len !== 10) return len < 10;
  return text.slice(p, end) <= '2147483647';
}

const scanner = new Scanner();

/**
 * The shape key of `text` without the parser, or undefined when the text is
 * outside what this scanner fully understands. See the header for what it
 * accepts and why the classifier may use it.
 */
export function fastShapeKey(text: string): FastShapeKey | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_SHAPE_TEXT_LENGTH) return undefined;
  // Also refused by shapeEligible: keep the fast path within what the normalize() path may share.
  const key = scanner.scan(text);
  scanner.release();
  return key;
}
