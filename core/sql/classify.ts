// The public face of SQL classification (see README.md in this folder):
// PostgreSQL's own parser decides what each statement does, what it touches,
// and where its output columns come from.
export { initSqlParser, classifySql, sqlParserReady, MAX_SQL_LENGTH } from './classify-text.js';
export { SqlClassifier, type SqlClassifierOptions, type SqlClassifierStats } from './sql-classifier.js';
export { isWriteFunction } from './write-functions.js';
export type {
  StatementKind, SqlStatement, SqlClassification, SqlErrorCode, OutputColumn, ColumnRef,
} from './types.js';
