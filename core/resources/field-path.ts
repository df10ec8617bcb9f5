// Field paths as the API server prints them: spec.rules[0].name, spec.podSelector.matchLabels.app.

/** A path to a field in a resource, and what is wrong with it. */
export interface ValidationError {
  path: string;
  message: string;
}

/** The path reported for a problem with the whole document. */
export const ROOT_PATH = '<root>';

export const child = (base: string, prop: string): string => (base === '' ? prop : `${base}.${prop}`);
export const index = (base: string, i: number): string => `${base}[${i}]`;
export const mapKey = (base: string, key: string): string => child(base, key);
/** A key of a CRD schema map, as CRD validation prints it: properties[spec]. */
export const bracket = (base: string, key: string): string => `${base}[${key}]`;
export const shown = (path: string): string => (path === '' ? ROOT_PATH : path);

/** Value for an error message: short, and never more than a prefix of a long text. */
export function quote(v: unknown): string {
  const text = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  const cut = text.length > 64 ? `${text.slice(0, 61)}...` : text;
  return JSON.stringify(cut);
}
