// Statement text as it goes into a recording. Texts are recorded as written
// (that is their audit value), except a text that may carry a credential in
// a literal (CREATE/ALTER ROLE … PASSWORD, user mappings, pgcrypto keys,
// dblink connection strings, set_config): its constants are replaced by $n
// with PostgreSQL's own scanner (libpg-query normalize). If that fails, or
// leaves anything that still looks like a literal, the text is withheld.
import { normalizeSync } from 'libpg-query';

const MAY_CARRY_CREDENTIAL = /password|passwd|secret|pgp_|crypt|hmac|dblink|mapping|conninfo|set_config|connect/i;

export function recordedStatementText(text: string): string {
  if (!MAY_CARRY_CREDENTIAL.test(text)) return text;
  let normalized: string;
  try {
    normalized = normalizeSync(text);
  } catch {
    normalized = '';
  }
  // normalize answers some syntax errors with text; a quote or dollar quote left means a literal may be too.
  if (normalized === '' || normalized.includes("'") || normalized.includes('$$') || /\$[A-Za-z_]/.test(normalized)) {
    return `[statement withheld: ${text.length} characters that may carry a credential]`;
  }
  return normalized;
}
