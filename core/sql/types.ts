// Public shapes of a SQL classification: what the policy activation's `sql`
// member is built from, and what the PostgreSQL data path uses for masking.
// Object types are aliases, not interfaces, so that they are assignable to
// the policy engine's index-signature fact types.

export type StatementKind =
  | 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE'
  | 'DROP' | 'TRUNCATE' | 'ALTER' | 'CREATE' | 'GRANT' | 'REVOKE'
  | 'COPY' | 'DO' | 'CALL' | 'PREPARE' | 'EXECUTE' | 'DEALLOCATE' | 'EXPLAIN'
  | 'SET' | 'SHOW' | 'TRANSACTION' | 'LISTEN' | 'NOTIFY' | 'UNLISTEN'
  | 'VACUUM' | 'ANALYZE' | 'LOCK' | 'DECLARE' | 'FETCH' | 'CLOSE' | 'DISCARD'
  | 'RESET' | 'COMMENT' | 'REFRESH' | 'CREATE_RULE' | 'OTHER' | 'UNPARSEABLE';

/** One source column an output or predicate depends on. `column: '*'` is a whole-row reference. */
export type ColumnRef = {
  /** Lowercase table as written ('public.customers' or 'customers'); absent when it cannot be told. */
  table?: string;
  column: string;
};

export type OutputColumn = {
  /** The name PostgreSQL gives the column ('?column?' when it has none; '*' for an unexpanded star). */
  name: string;
  refs: ColumnRef[];
  /** The value is a bare column reference (RowDescription should carry its origin). */
  direct: boolean;
  /** An unexpanded `*` or `t.*`: it stands for an unknown number of columns. */
  star?: boolean;
};

export type SqlStatement = {
  kind: StatementKind;
  text: string;
  tables: string[];
  functions: string[];
  hasWhere: boolean;
  writes: boolean;
  innerKinds: StatementKind[];
  program: boolean;
  copyDirection?: 'from' | 'to';
  preparedName?: string;
  outputColumns?: OutputColumn[];
  /** Columns that decide which rows come back or in what order: WHERE, JOIN ON/USING, HAVING, GROUP BY, ORDER BY, DISTINCT ON, window clauses, MERGE conditions. */
  predicateColumns: ColumnRef[];
  /** SELECT ... FOR UPDATE/SHARE (row locks; not a write). */
  locking: boolean;
  /** SET / RESET / SHOW: the lowercase parameter name ('role', 'search_path', 'all', 'transaction'). */
  setting?: string;
  /** DECLARE / FETCH / MOVE / CLOSE: the cursor name ('all' for CLOSE ALL). */
  cursorName?: string;
  /**
   * COPY: its options as parsed, by lowercase name (legacy spellings such as
   * `CSV HEADER` included): a string argument as written, booleans 'true' /
   * 'false', `*` for FORCE_QUOTE *, lists joined by ',', '' when the option
   * has no argument. What masking reads the data format from.
   */
  copyOptions?: Record<string, string>;
};

export type SqlErrorCode =
  | 'SQL_SYNTAX' // PostgreSQL's parser refused it
  | 'SQL_TOO_LONG'
  | 'SQL_INVALID_TEXT' // a NUL byte or a lone UTF-16 surrogate: the server would read other text
  | 'SQL_PARSER_NOT_READY' // initSqlParser() has not finished
  | 'SQL_TOO_DEEP'
  | 'SQL_CLASSIFY_FAILED';

export type SqlClassification = {
  text: string;
  statements: SqlStatement[];
  /** Set exactly when the text is unparseable; `statements` then holds one UNPARSEABLE statement. */
  error?: { message: string; cursorPosition: number; code: SqlErrorCode };
};
