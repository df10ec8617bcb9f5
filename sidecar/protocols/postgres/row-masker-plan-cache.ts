// A session's cache of row masking plans. A session (a driver, an agent)
// runs the same few statements again and again, so each distinct
// RowDescription is parsed once, and what masking does with each of its
// columns (the rule from catalog lineage or from the statement's own
// lineage, or detection) is planned once per layout, lineage and statement
// lineage, then reused: a one-row result costs a lookup, not a plan. A plan
// depends on nothing else (the compiled masking is the session's), so a
// cached plan masks exactly as a fresh one would.
import type { CompiledMasking } from '../../../core/masking/masker.js';
import type { OutputColumn, SqlStatement } from '../../../core/sql/types.js';
import { parseRowDescription, type RowDescriptionField } from './backend-messages.js';
import type { Lineage } from './catalog-lineage.js';
import type { RowLayout } from './masking-seam.js';
import { planRowMasker, type OutputColumnLineage, type RowField, type RowMaskPlan } from './row-masker.js';

export interface RowPlanCacheLimits {
  /** Distinct RowDescriptions kept (default 256); beyond it the cache starts over. */
  maxLayouts?: number;
  /** Plans kept per layout (statement lineages; default 16); beyond it that layout's plans start over. */
  maxPlansPerLayout?: number;
  /** Longer RowDescription bodies are parsed every time (default 16 KiB). */
  maxLayoutBytes?: number;
}

interface CachedPlan {
  /** The lineage it was planned with: reused only for that very map. */
  lineage: Lineage;
  plan: RowMaskPlan | null;
}

class CachedLayout implements RowLayout {
  readonly tableOids: readonly number[];
  /** The fields as the row masker takes them. */
  readonly rowFields: readonly RowField[];
  /** By statement lineage key (outputsKey). */
  readonly plans = new Map<string, CachedPlan>();

  constructor(readonly fields: readonly RowDescriptionField[]) {
    this.tableOids = Object.freeze(tableOidsOf(fields));
    this.rowFields = Object.freeze(fields.map(toRowField));
  }
}

function tableOidsOf(fields: readonly RowDescriptionField[]): number[] {
  return [...new Set(fields.map((f) => f.tableOid).filter((o) => o !== 0))];
}

function toRowField(f: RowDescriptionField): RowField {
  return { name: f.name, tableOid: f.tableOid, attnum: f.columnAttr, typeOid: f.typeOid, typeSize: f.typeSize, typeMod: f.typeModifier, format: f.format };
}

/** What the row masker reads of a statement: per output column, the columns it reads and whether it is one of them. */
export function outputLineage(statement: SqlStatement | undefined): OutputColumnLineage[] | undefined {
  return statement?.outputColumns?.map((c) => ({ refs: c.refs, direct: c.direct }));
}

/** Keys of classified (deep-frozen, so never changing) output column lists, by identity. */
const frozenKeys = new WeakMap<readonly OutputColumn[], string>();

function deepFrozen(cols: readonly OutputColumn[]): boolean {
  return Object.isFrozen(cols) && cols.every((c) => Object.isFrozen(c) && Object.isFrozen(c.refs) && c.refs.every((r) => Object.isFrozen(r)));
}

/** A key that differs whenever outputLineage(statement) does (JSON: no separator an identifier could forge). */
export function outputsKey(statement: SqlStatement | undefined): string {
  const cols = statement?.outputColumns;
  if (cols === undefined) return '-';
  const known = frozenKeys.get(cols);
  if (known !== undefined) return known;
  const key = JSON.stringify(cols.map((c) => [c.direct, c.refs.map((r) => [r.table ?? null, r.column])]));
  if (deepFrozen(cols)) frozenKeys.set(cols, key);
  return key;
}

/** Bodies up to this long are compared with the last one byte by byte before any lookup. */
const SHORT_BODY = 256;

function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class RowPlanCache {
  private readonly layouts = new Map<string, CachedLayout>();
  /** The last short body looked up (a copy) and its layout: a session mostly repeats its last statement. */
  private lastBody: Buffer | undefined;
  private lastLayout: CachedLayout | undefined;
  private readonly maxLayouts: number;
  private readonly maxPlans: number;
  private readonly maxLayoutBytes: number;

  constructor(
    private readonly masking: CompiledMasking,
    limits: RowPlanCacheLimits = {},
  ) {
    this.maxLayouts = limits.maxLayouts ?? 256;
    this.maxPlans = limits.maxPlansPerLayout ?? 16;
    this.maxLayoutBytes = limits.maxLayoutBytes ?? 16 * 1024;
  }

  /** The layout of a RowDescription body: the same object for the same bytes while cached. */
  layout(body: Buffer): RowLayout {
    if (body.length > this.maxLayoutBytes) return new CachedLayout(Object.freeze(parseRowDescription(body)));
    const last = this.lastBody;
    if (last !== undefined && this.lastLayout !== undefined && sameBytes(body, last)) return this.lastLayout;
    const key = body.toString('latin1');
    let layout = this.layouts.get(key);
    if (layout === undefined) {
      layout = new CachedLayout(Object.freeze(parseRowDescription(body)));
      if (this.layouts.size >= this.maxLayouts) this.layouts.clear();
      this.layouts.set(key, layout);
    }
    if (body.length <= SHORT_BODY) {
      this.lastBody = Buffer.from(body); // a copy: the frame's buffer is reused for later input
      this.lastLayout = layout;
    }
    return layout;
  }

  /** The plan for rows of `layout` with this lineage and statement: cached, or planned now (null: nothing to mask). */
  plan(layout: RowLayout, lineage: Lineage, statement: SqlStatement | undefined): RowMaskPlan | null {
    if (!(layout instanceof CachedLayout)) {
      return planRowMasker({ fields: layout.fields.map(toRowField), lineage, outputColumns: outputLineage(statement), masking: this.masking });
    }
    const key = outputsKey(statement);
    const hit = layout.plans.get(key);
    // The same map, or two empty ones: planned from the same lineage.
    if (hit !== undefined && (hit.lineage === lineage || (hit.lineage.size === 0 && lineage.size === 0))) return hit.plan;
    const plan = planRowMasker({ fields: layout.rowFields, lineage, outputColumns: outputLineage(statement), masking: this.masking });
    if (hit === undefined && layout.plans.size >= this.maxPlans) layout.plans.clear();
    layout.plans.set(key, { lineage, plan });
    return plan;
  }
}
