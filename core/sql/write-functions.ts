// Functions whose call changes server state, reaches outside the database, or
// runs SQL that the parse tree cannot see. A statement calling one of them
// `writes`, whatever its kind. Matched on the unqualified, lowercase name, so a
// same-named function in another schema also counts (fail closed).

const EXACT = new Set([
  // sessions and server control
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote',
  'pg_log_backend_memory_contexts', 'pg_switch_wal', 'pg_create_restore_point',
  'pg_backup_start', 'pg_backup_stop', 'pg_start_backup', 'pg_stop_backup',
  'pg_wal_replay_pause', 'pg_wal_replay_resume', 'pg_import_system_collations',
  'pg_logical_emit_message', 'pg_logical_slot_get_changes', 'pg_logical_slot_get_binary_changes',
  'pg_replication_slot_advance', 'pg_copy_logical_replication_slot', 'pg_copy_physical_replication_slot',
  'pg_notify',
  // configuration (set_config('role', ...) is SET ROLE)
  'set_config',
  // sequences and transaction ids
  'nextval', 'setval', 'txid_current', 'pg_current_xact_id',
  // server files and programs
  'pg_read_file', 'pg_read_binary_file', 'pg_stat_file', 'pg_file_write', 'pg_file_rename',
  'pg_file_unlink', 'pg_file_sync', 'pg_logdir_ls',
  // large objects
  'lo_import', 'lo_export', 'lo_unlink', 'lo_create', 'lo_creat', 'lo_put', 'lo_from_bytea',
  'lo_truncate', 'lo_truncate64', 'lowrite', 'lo_open',
  // run the SQL text they are given (their rows leave as computed values no lineage can follow)
  'ts_stat', 'ts_rewrite',
  // statistics and visibility maintenance
  'pg_stat_statements_reset', 'pg_truncate_visibility_map',
]);

const PREFIXES = [
  'dblink', // dblink, dblink_exec, dblink_connect, ...: SQL on another server
  'pg_advisory_', 'pg_try_advisory_', // advisory locks outlive the statement
  'pg_ls_', // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, ...: server directory listings
  'pg_stat_reset',
  'pg_replication_origin_',
  'pg_create_', 'pg_drop_', // replication slots and the like
  // run the SQL text they are given, invisible to this classifier
  'query_to_xml', 'table_to_xml', 'cursor_to_xml', 'schema_to_xml', 'database_to_xml',
  'binary_upgrade_',
];

/** Whether a call of `name` (lowercase, possibly schema-qualified) counts as a write. */
export function isWriteFunction(name: string): boolean {
  const dot = name.lastIndexOf('.');
  const bare = dot >= 0 ? name.slice(dot + 1) : name;
  if (EXACT.has(bare)) return true;
  for (const p of PREFIXES) if (bare.startsWith(p)) return true;
  return false;
}
