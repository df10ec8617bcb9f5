// Multi-document YAML manifests (`---` separated, as kubectl reads them).
import { parseAllDocuments } from 'yaml';
import { ManifestParseError } from './errors.js';

// Bounds that keep a hostile manifest from costing much (alias bombs, huge docs).
const MAX_DOCUMENTS = 1000;
const MAX_ALIASES = 100;

/**
 * Parses every document of a YAML stream into plain JSON values. Empty
 * documents are skipped; a `kind: List` is flattened into its items (as
 * kubectl does). Throws ManifestParseError (code RESOURCE_MANIFEST_PARSE)
 * naming the document and line of the first YAML error.
 */
export function loadManifests(yamlText: string): unknown[] {
  const docs = parseAllDocuments(yamlText, { prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length > MAX_DOCUMENTS) {
    throw new ManifestParseError(MAX_DOCUMENTS, `too many YAML documents (more than ${MAX_DOCUMENTS})`);
  }
  const out: unknown[] = [];
  list.forEach((doc, index) => {
    const err = doc.errors[0];
    if (err !== undefined) {
      const where = err.linePos?.[0] !== undefined ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
      throw new ManifestParseError(index, `YAML document ${index + 1}${where}: ${err.message.split('\n')[0] ?? err.code}`, err);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      throw new ManifestParseError(index, `YAML document ${index + 1}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    if (value === null || value === undefined) return;
    if (isList(value)) out.push(...value.items);
    else out.push(value);
  });
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return o['apiVersion'] === 'v1' && o['kind'] === 'List' && Array.isArray(o['items']);
}
