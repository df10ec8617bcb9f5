// Binds the relay's masking seam (masking-seam.ts) to the row masker: one
// compiled masking per session (compiled once, when the session starts), and
// per result a DataRow / COPY masker planned from RowDescription lineage and
// the statement's own column lineage (DataRow plans cached per session:
// row-masker-plan-cache.ts).
import { findSensitive } from '../../../core/masking/detectors.js';
import { compileMasking, type CompiledMasking, type MaskingSpecLike } from '../../../core/masking/masker.js';
import type { SqlStatement } from '../../../core/sql/types.js';
import { frame } from './body-reader.js';
import type { SessionMasking } from './masking-seam.js';
import { PgProxyError } from './protocol-errors.js';
import { RowPlanCache } from './row-masker-plan-cache.js';
import {
  maskCopyTextLine,
  maskErrorFrame,
  planCopyColumns,
  rowMaskerFor,
  touchesMaskedColumn,
  type ColumnRef,
  type CopyColumn,
  type CopyPlan,
} from './row-masker.js';

/**
 * Everything a statement reads or writes. A table it names counts as a whole
 * (`*`): an INSERT's or UPDATE's target columns are not output or predicate
 * columns, yet a unique violation echoes the value written to them.
 */
function allRefs(statements: readonly SqlStatement[]): ColumnRef[] {
  const out: ColumnRef[] = [];
  for (const s of statements) {
    for (const t of s.tables) out.push({ table: t, column: '*' });
    for (const c of s.outputColumns ?? []) out.push(...c.refs);
    out.push(...s.predicateColumns);
  }
  return out;
}

/** COPY columns by position. An unexpanded `*` stands for columns we cannot see: each gets its tables' strictest rule. */
function copyColumns(statement: SqlStatement | undefined, count: number): CopyColumn[] {
  const cols = statement?.outputColumns ?? [];
  if (cols.some((c) => c.star === true)) {
    const refs = cols.flatMap((c) => c.refs);
    return Array.from({ length: count }, () => ({ lineage: { refs, direct: false } }));
  }
  return cols.map((c) => ({ lineage: { refs: c.refs, direct: c.direct } }));
}

/** Masked COPY lines scanned again to name the detectors that fired. */
const COPY_DETECTOR_SAMPLES = 4;

/** The masked columns a COPY's rule positions read (by the rules that apply to them). */
function copyRuleNames(plan: CopyPlan, columns: readonly CopyColumn[], masking: CompiledMasking): string[] {
  const out = new Set<string>();
  const ruled = plan.columns.some((p) => p?.action.kind === 'rule') || plan.rest?.action.kind === 'rule';
  if (!ruled) return [];
  for (const c of columns) {
    for (const ref of c.lineage?.refs ?? []) {
      for (const rule of masking.columnRules(ref.table, ref.column)) out.add(`${rule.schema !== undefined ? `${rule.schema}.` : ''}${rule.table}.${rule.column}`);
    }
  }
  return [...out];
}

/** Null when the spec masks nothing (the relay then never parses a row). */
export function createSessionMasking(spec: MaskingSpecLike | undefined, opts: { hashKey?: Buffer } = {}): SessionMasking | null {
  const masking: CompiledMasking = compileMasking(spec, opts.hashKey !== undefined ? { hashKey: opts.hashKey } : {});
  if (masking.isEmpty) return null;
  const plans = new RowPlanCache(masking);
  return {
    needsLineage: masking.hasColumnRules,
    rowLayout: (body) => plans.layout(body),
    forRows(layout, lineage, statement) {
      const plan = plans.plan(layout, lineage, statement);
      return plan === null ? null : rowMaskerFor(plan);
    },
    forCopy(statement, copy) {
      if (statement === undefined && masking.hasColumnRules) {
        // Without the statement the columns are unknown: refuse rather than skip column rules.
        throw new PgProxyError('PG_BACKEND_PROTOCOL', 'cannot tell which columns this COPY returns, so it cannot be masked');
      }
      const plan = planCopyColumns(copyColumns(statement, copy.columnFormats.length), masking);
      if (plan === null) return null;
      if (copy.format !== 0) {
        throw new PgProxyError('PG_BACKEND_PROTOCOL', 'binary COPY cannot be masked; use text or CSV format');
      }
      // The format as PostgreSQL parsed it (never the text: a column may be named csv).
      const options = statement?.copyOptions ?? {};
      // Custom separators change how a line splits into fields, another encoding the bytes; guessing wrong would leak.
      if (options.delimiter !== undefined || options.quote !== undefined || options.escape !== undefined) {
        throw new PgProxyError('PG_BACKEND_PROTOCOL', 'COPY with custom DELIMITER, QUOTE or ESCAPE cannot be masked');
      }
      if (options.encoding !== undefined && !/^(utf-?8|unicode)$/i.test(options.encoding)) {
        throw new PgProxyError('PG_BACKEND_PROTOCOL', 'COPY with an ENCODING other than UTF8 cannot be masked');
      }
      const format = (options.format ?? 'text').toLowerCase();
      if (format !== 'text' && format !== 'csv') {
        throw new PgProxyError('PG_BACKEND_PROTOCOL', `COPY in format ${JSON.stringify(format)} cannot be masked; use text or CSV`);
      }
      const csv = format === 'csv';
      const columns = copyColumns(statement, copy.columnFormats.length);
      const detects = [...plan.columns, plan.rest].some((p) => p?.action.kind === 'detect');
      let maskedLines = 0;
      const detected = new Set<string>();
      return {
        maskCopyData(f: Buffer) {
          const line = f.subarray(5);
          const r = maskCopyTextLine(line, plan, masking, { format: csv ? 'csv' : 'text' });
          if (r.masked === 0) return { buf: f, masked: 0 };
          // Which detector fired is looked up again on the first few masked lines only.
          if (detects && maskedLines++ < COPY_DETECTOR_SAMPLES) {
            for (const m of findSensitive(line.toString('utf8'), masking.detectors)) detected.add(`detector:${m.type}`);
          }
          return { buf: frame(0x64, r.buf), masked: r.masked };
        },
        maskedColumns() {
          return maskedLines === 0 ? [] : [...copyRuleNames(plan, columns, masking), ...detected];
        },
      };
    },
    maskError(f, statements) {
      return maskErrorFrame(f, masking, { touchedMaskedColumn: statements !== undefined && touchesMaskedColumn(allRefs(statements), masking) });
    },
    text: masking.hasDetectors ? { maskText: (s: string) => masking.maskText(s) } : null,
    maskedColumnsOf: (table) => [...new Set(masking.columnRules(table, '*').map((r) => r.column))],
    maskNotification(f) {
      // 'A', int32 length, int32 pid, channel\0, payload\0
      const channelEnd = f.indexOf(0, 9);
      const payloadEnd = channelEnd < 0 ? -1 : f.indexOf(0, channelEnd + 1);
      if (f.length < 11 || f[0] !== 0x41 || channelEnd < 0 || payloadEnd !== f.length - 1) {
        throw new PgProxyError('PG_BACKEND_PROTOCOL', 'malformed NotificationResponse');
      }
      const payload = f.toString('utf8', channelEnd + 1, payloadEnd);
      const json = masking.hasJsonRules || masking.hasDetectors ? masking.maskJsonText(payload) : undefined;
      const r = json !== undefined && json.valid ? json : masking.maskText(payload);
      if (r.masked === 0) return { buf: f, masked: 0 };
      return { buf: frame(0x41, Buffer.concat([f.subarray(5, channelEnd + 1), Buffer.from(r.text, 'utf8'), Buffer.of(0)])), masked: r.masked };
    },
  };
}
