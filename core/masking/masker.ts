// A policy's masking configuration, compiled once when configuration loads:
// column rules (matched by lineage: schema.table + column), JSON field paths,
// and content detectors, with the policy's hash key bound in. The hot path
// only evaluates.
import { compileDetectors, findSensitive, checkKeep, mayFindInUtf8, type Detector } from './detectors.js';
import type { DetectorSpec } from './detector-types.js';
import { InvalidMaskSpecError, MaskHashKeyError } from './errors.js';
import { maskJsonText, maskJsonValue, type JsonMaskDeps, type JsonTextResult } from './json-masker.js';
import { JsonPathMatcher, parseJsonPath, type JsonPathRule } from './json-path.js';
import {
  MIN_HASH_KEY_BYTES,
  STRATEGY_STRICTNESS,
  TEXT_SHAPE,
  isMaskStrategy,
  maskValue,
  type MaskStrategy,
  type ValueShape,
} from './strategies.js';

/** One entry of AccessPolicy.spec.masking.columns. */
export interface ColumnMaskSpec {
  /** "schema.table", or "table" for a table of that name in any schema. */
  table: string;
  column: string;
  strategy?: MaskStrategy;
  keep?: number;
}

/** One entry of AccessPolicy.spec.masking.jsonFields. */
export interface JsonFieldMaskSpec {
  path: string;
  strategy?: MaskStrategy;
  keep?: number;
}

/** The masking block of an AccessPolicy (structurally; hashKeySecretRef is resolved by the caller). */
export interface MaskingSpecLike {
  columns?: readonly ColumnMaskSpec[];
  jsonFields?: readonly JsonFieldMaskSpec[];
  detectors?: readonly DetectorSpec[];
  hashKeySecretRef?: unknown;
}

export interface CompileMaskingOptions {
  /** The per-policy HMAC key (from hashKeySecretRef); required, 16+ bytes, when any rule uses `hash`. */
  hashKey?: Buffer;
}

export interface ColumnRule {
  /** Lower-cased schema, or undefined when the rule named a bare table (any schema). */
  schema: string | undefined;
  /** Lower-cased table name. */
  table: string;
  /** Lower-cased column name. */
  column: string;
  strategy: MaskStrategy;
  keep: number;
}

export interface MaskTextResult {
  text: string;
  /** Number of sensitive substrings replaced. */
  masked: number;
}

export interface MaskFieldResult {
  /** null when a detector with the `null` strategy hit: the whole value becomes NULL. */
  value: string | null;
  masked: number;
}

export interface CompiledMasking {
  readonly detectors: readonly Detector[];
  readonly hasColumnRules: boolean;
  readonly hasJsonRules: boolean;
  readonly hasDetectors: boolean;
  /** Nothing configured: every masker can take its fast path. */
  readonly isEmpty: boolean;
  /**
   * The rule for a column, matched case-insensitively. `table` is "schema.table"
   * (from catalog lineage), a bare "table" (schema unknown: matches rules for
   * that table name in any schema), or undefined (table unknown: any rule for
   * that column name). Column '*' is a whole-row reference (row_to_json(c),
   * SELECT c FROM customers c): any rule of that table. When several rules
   * match, the strictest wins.
   */
  columnRule(table: string | undefined, column: string): ColumnRule | undefined;
  /** Every rule that columnRule chooses from (for callers that adjust strategies before choosing). */
  columnRules(table: string | undefined, column: string): ColumnRule[];
  /** Detectors over free text (errors, notices, computed values, terminal output). */
  maskText(text: string): MaskTextResult;
  /** Like maskText, but a `null`-strategy hit nulls the whole value (for column values). */
  maskField(text: string): MaskFieldResult;
  /** The detector that flags this text (first hit), if any: for values masked whole, like numbers. */
  detectorHit(text: string): Detector | undefined;
  /**
   * detectorHit for the text form of a number (an int, float or numeric
   * column's value): the same answer, from only the detectors that can match
   * there (Detector.inNumberText).
   */
  numberDetectorHit(text: string): Detector | undefined;
  /** Whether some detector can match inside a number's text of at most `maxDigits` digits. */
  detectsInNumbers(maxDigits: number): boolean;
  /**
   * Whether the detectors can find anything in the UTF-8 text bytes[start,
   * end) (only the ones that can match a number's text when `inNumber`):
   * false means maskText / maskField / detectorHit (numberDetectorHit) would
   * find nothing there, so the value need not even be decoded.
   */
  mayDetect(bytes: Uint8Array, start: number, end: number, inNumber?: boolean): boolean;
  /** JSON field paths + detectors on string (and long number) leaves. Pure, copy-on-write. */
  maskJson(value: unknown): { value: unknown; masked: number };
  /** Same over JSON text, rewriting only masked values; valid=false if the text is not JSON. */
  maskJsonText(text: string): JsonTextResult;
  /** Apply a strategy with this policy's hash key. */
  apply(value: string, strategy: MaskStrategy, keep: number, shape?: ValueShape): string | null;
}

const lower = (s: string): string => s.toLowerCase();

function compileColumn(spec: ColumnMaskSpec, field: string): ColumnRule {
  if (typeof spec.table !== 'string' || spec.table.length === 0) {
    throw new InvalidMaskSpecError(`${field}.table`, 'table is required ("schema.table" or "table")');
  }
  if (typeof spec.column !== 'string' || spec.column.length === 0) {
    throw new InvalidMaskSpecError(`${field}.column`, 'column is required');
  }
  const parts = spec.table.split('.');
  if (parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new InvalidMaskSpecError(`${field}.table`, `expected "schema.table" or "table", got ${JSON.stringify(spec.table)}`);
  }
  const strategy = spec.strategy ?? 'redact';
  if (!isMaskStrategy(strategy)) {
    throw new InvalidMaskSpecError(`${field}.strategy`, `unknown strategy ${JSON.stringify(strategy)}`);
  }
  const [a, b] = parts;
  return {
    schema: b === undefined ? undefined : lower(a ?? ''),
    table: lower(b ?? a ?? ''),
    column: lower(spec.column),
    strategy,
    keep: checkKeep(spec.keep, `${field}.keep`),
  };
}

function compileJsonField(spec: JsonFieldMaskSpec, field: string): JsonPathRule {
  if (typeof spec.path !== 'string') throw new InvalidMaskSpecError(`${field}.path`, 'path is required');
  const strategy = spec.strategy ?? 'redact';
  if (!isMaskStrategy(strategy)) {
    throw new InvalidMaskSpecError(`${field}.strategy`, `unknown strategy ${JSON.stringify(strategy)}`);
  }
  return {
    path: spec.path,
    segments: parseJsonPath(spec.path, `${field}.path`),
    strategy,
    keep: checkKeep(spec.keep, `${field}.keep`),
  };
}

/**
 * Catalog columns that hold sample values of other tables' columns: the
 * planner's statistics (most common values, histogram bounds) of every
 * column, masked ones included, readable by anyone who can read the table.
 * They cannot be told apart by table, so with any column rule all of them are
 * redacted.
 */
const STATISTICS_VALUE_COLUMNS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['pg_stats', ['most_common_vals', 'histogram_bounds', 'most_common_elems']],
  ['pg_stats_ext', ['most_common_vals']],
  ['pg_stats_ext_exprs', ['most_common_vals', 'histogram_bounds', 'most_common_elems']],
  ['pg_statistic', ['stavalues1', 'stavalues2', 'stavalues3', 'stavalues4', 'stavalues5']],
  ['pg_statistic_ext_data', ['stxdmcv', 'stxdexpr']],
];

function statisticsRules(): ColumnRule[] {
  return STATISTICS_VALUE_COLUMNS.flatMap(([table, cols]) =>
    cols.map((column): ColumnRule => ({ schema: 'pg_catalog', table, column, strategy: 'redact', keep: 0 })),
  );
}

function markerFor(type: string): string {
  return `[REDACTED:${type}]`;
}

/** Compile a policy's masking block. Throws InvalidMaskSpecError / InvalidMaskPatternError / MaskHashKeyError. */
export function compileMasking(spec: MaskingSpecLike | undefined, opts: CompileMaskingOptions = {}): CompiledMasking {
  const configured = (spec?.columns ?? []).map((c, i) => compileColumn(c, `masking.columns[${i}]`));
  const columns = configured.length > 0 ? [...configured, ...statisticsRules()] : configured;
  const jsonRules = (spec?.jsonFields ?? []).map((j, i) => compileJsonField(j, `masking.jsonFields[${i}]`));
  const detectors = compileDetectors(spec?.detectors ?? [], 'masking.detectors');

  const usesHash =
    columns.some((c) => c.strategy === 'hash') ||
    jsonRules.some((j) => j.strategy === 'hash') ||
    detectors.some((d) => d.strategy === 'hash');
  // A private copy: the caller may reuse or zero its buffer.
  const hashKey = opts.hashKey === undefined ? undefined : Buffer.from(opts.hashKey);
  if (usesHash) {
    if (hashKey === undefined) throw new MaskHashKeyError('none was provided');
    if (hashKey.length < MIN_HASH_KEY_BYTES) throw new MaskHashKeyError(`it must be at least ${MIN_HASH_KEY_BYTES} bytes`);
  }

  const byColumn = new Map<string, ColumnRule[]>();
  for (const rule of columns) {
    const list = byColumn.get(rule.column);
    if (list === undefined) byColumn.set(rule.column, [rule]);
    else list.push(rule);
  }

  const apply = (value: string, strategy: MaskStrategy, keep: number, shape: ValueShape = TEXT_SHAPE): string | null =>
    maskValue(value, strategy, { keep, shape, hashKey });

  const replaceMatches = (text: string, nullWhole: boolean): MaskFieldResult => {
    const matches = findSensitive(text, detectors);
    if (matches.length === 0) return { value: text, masked: 0 };
    let out = '';
    let at = 0;
    for (const m of matches) {
      const d = detectors[m.detector];
      if (d === undefined) continue;
      if (d.strategy === 'null' && nullWhole) return { value: null, masked: matches.length };
      const marker = markerFor(m.type);
      const masked =
        d.strategy === 'null' ? marker : maskValue(text.slice(m.start, m.end), d.strategy, { keep: d.keep, marker, hashKey });
      out += text.slice(at, m.start) + (masked ?? marker);
      at = m.end;
    }
    return { value: out + text.slice(at), masked: matches.length };
  };

  const paths = jsonRules.length > 0 ? new JsonPathMatcher(jsonRules) : null;
  const jsonDeps: JsonMaskDeps = {
    paths,
    hasDetectors: detectors.length > 0,
    maskString: (s) => replaceMatches(s, true),
    numberHit: (raw) => {
      const d = detectorHit(raw);
      return d === undefined ? undefined : { strategy: d.strategy, keep: d.keep };
    },
    apply,
  };

  function columnRules(table: string | undefined, column: string): ColumnRule[] {
    const candidates = column === '*' ? columns : byColumn.get(lower(column));
    if (candidates === undefined) return [];
    if (table === undefined || table.length === 0) return candidates.slice();
    const dot = table.indexOf('.');
    const schema = dot >= 0 ? lower(table.slice(0, dot)) : undefined;
    const name = lower(dot >= 0 ? table.slice(dot + 1) : table);
    return candidates.filter((r) => r.table === name && (r.schema === undefined || schema === undefined || r.schema === schema));
  }

  function detectorHit(text: string): Detector | undefined {
    const m = findSensitive(text, detectors)[0];
    return m === undefined ? undefined : detectors[m.detector];
  }

  // The others cannot match a number's text, so leaving them out changes no answer.
  const numberDetectors = detectors.filter((d) => d.inNumberText);
  function numberDetectorHit(text: string): Detector | undefined {
    if (numberDetectors.length === 0) return undefined;
    const m = findSensitive(text, numberDetectors)[0];
    return m === undefined ? undefined : numberDetectors[m.detector];
  }

  return {
    detectors,
    hasColumnRules: columns.length > 0,
    hasJsonRules: jsonRules.length > 0,
    hasDetectors: detectors.length > 0,
    isEmpty: columns.length === 0 && jsonRules.length === 0 && detectors.length === 0,
    columnRules,
    columnRule(table, column) {
      let best: ColumnRule | undefined;
      for (const rule of columnRules(table, column)) {
        if (best === undefined || STRATEGY_STRICTNESS[rule.strategy] > STRATEGY_STRICTNESS[best.strategy]) best = rule;
      }
      return best;
    },
    maskText(text) {
      if (detectors.length === 0) return { text, masked: 0 };
      const r = replaceMatches(text, false);
      return { text: r.value ?? '', masked: r.masked };
    },
    maskField(text) {
      if (detectors.length === 0) return { value: text, masked: 0 };
      return replaceMatches(text, true);
    },
    detectorHit,
    numberDetectorHit,
    // A detector needing more digits than the type can print never fires (an int4 has at most 10, a card 13).
    detectsInNumbers: (maxDigits) => numberDetectors.some((d) => d.minDigits <= maxDigits),
    mayDetect: (bytes, start, end, inNumber = false) => mayFindInUtf8(bytes, start, end, inNumber ? numberDetectors : detectors),
    maskJson: (value) => maskJsonValue(value, jsonDeps),
    maskJsonText: (text) => maskJsonText(text, jsonDeps),
    apply,
  };
}
