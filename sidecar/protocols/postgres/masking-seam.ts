// The seam between the relay and masking: what the session asks of a masker,
// declared here where it is used. `row-masker-seam.ts` binds it to the row
// masker; the relay only ever calls these methods, and only when the
// session's policies ask for masking.
import type { SqlStatement } from '../../../core/sql/types.js';
import type { RowDescriptionField } from './backend-messages.js';
import type { Lineage } from './catalog-lineage.js';

export interface MaskResult {
  /** The frame to send: the input buffer itself when nothing changed. */
  buf: Buffer;
  masked: number;
}

export interface DataRowMasker {
  /** Masks one whole DataRow frame (type byte and length included). */
  maskDataRow(frame: Buffer): MaskResult;
  /** What it masked so far, by name ("public.customers.ssn", "detector:pan"), never by value; asked once, when the result ends. */
  maskedColumns?(): string[];
}

export interface CopyDataMasker {
  /** Masks one whole CopyData frame of a COPY TO STDOUT (one row in text/CSV formats). */
  maskCopyData(frame: Buffer): MaskResult;
  /** As DataRowMasker.maskedColumns. */
  maskedColumns?(): string[];
}

export interface TextMasker {
  maskText(s: string): { text: string; masked: number };
}

/** A RowDescription as masking reads it. */
export interface RowLayout {
  readonly fields: readonly RowDescriptionField[];
  /** The fields' distinct table OIDs other than 0, in order of first appearance: what lineage must resolve. */
  readonly tableOids: readonly number[];
}

export interface SessionMasking {
  /** Column rules exist, so RowDescription lineage must be resolved before rows flow. */
  readonly needsLineage: boolean;
  /**
   * The layout of a RowDescription body (the message without type and
   * length). A session sees the same few layouts again and again: the same
   * bytes give the same object, parsed once. Throws on a malformed body.
   */
  rowLayout(body: Buffer): RowLayout;
  /**
   * A masker for the rows of `layout`, or null when none of them needs it.
   * What to do with each column is planned once per layout, lineage (by
   * identity: see catalog-lineage.ts Lineage) and statement lineage, and
   * reused for later results.
   */
  forRows(layout: RowLayout, lineage: Lineage, statement: SqlStatement | undefined): DataRowMasker | null;
  /** A masker for COPY ... TO STDOUT data, or null when nothing needs it; throws when it cannot mask (binary COPY). */
  forCopy(statement: SqlStatement | undefined, copy: { format: number; columnFormats: number[] }): CopyDataMasker | null;
  /** Masks a whole ErrorResponse/NoticeResponse frame (they echo values); `statements` are the ones running. */
  maskError(frame: Buffer, statements: readonly SqlStatement[] | undefined): MaskResult;
  /**
   * Masks a whole NotificationResponse frame: its payload is free text from
   * the database (a trigger's pg_notify of row_to_json(NEW)), masked by JSON
   * field paths when it is JSON, and by detectors.
   */
  maskNotification?(frame: Buffer): MaskResult;
  /** For recorded statement texts; null when no detectors apply. */
  readonly text: TextMasker | null;
  /**
   * The masked columns of a table ("schema.table" or "table"; every masked
   * column when undefined): a whole-row predicate compares them too, and
   * policies see them named (statement-guard.ts expandWholeRowPredicates).
   */
  maskedColumnsOf?(table: string | undefined): readonly string[];
}
