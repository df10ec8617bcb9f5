// RFC 6902 JSON Patch: `diff(a, b)` produces ops that turn a into b (objects
// key by key; arrays by common prefix/suffix, then element-wise edits and
// inserts/removes in the middle, so prepending an init container is one `add`
// at index 0); `applyPatch` applies ops (tests use it to check diff, and the
// idempotence of injection). JSON Pointer escaping per RFC 6901.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type PatchOp =
  | { op: 'add'; path: string; value: Json }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: Json };

export const escapePointer = (token: string): string => token.replace(/~/g, '~0').replace(/\//g, '~1');
const unescapePointer = (token: string): string => token.replace(/~1/g, '/').replace(/~0/g, '~');

const isObject = (v: Json | undefined): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** A plain-JSON deep copy (drops undefined, as the wire would). */
export function toJson(v: unknown): Json {
  return JSON.parse(JSON.stringify(v ?? null)) as Json;
}

export function diff(a: Json, b: Json, path = ''): PatchOp[] {
  if (deepEqual(a, b)) return [];
  if (isObject(a) && isObject(b)) {
    const ops: PatchOp[] = [];
    for (const k of Object.keys(a)) {
      const p = `${path}/${escapePointer(k)}`;
      if (!Object.hasOwn(b, k)) ops.push({ op: 'remove', path: p });
    }
    for (const [k, bv] of Object.entries(b)) {
      const p = `${path}/${escapePointer(k)}`;
      if (!Object.hasOwn(a, k)) ops.push({ op: 'add', path: p, value: bv });
      else ops.push(...diff(a[k] as Json, bv, p));
    }
    return ops;
  }
  if (Array.isArray(a) && Array.isArray(b)) return diffArrays(a, b, path);
  return [{ op: 'replace', path, value: b }];
}

function diffArrays(a: Json[], b: Json[], path: string): PatchOp[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && deepEqual(a[pre], b[pre])) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && deepEqual(a[a.length - 1 - suf], b[b.length - 1 - suf])) suf++;
  const aMid = a.length - pre - suf;
  const bMid = b.length - pre - suf;
  const ops: PatchOp[] = [];
  const common = Math.min(aMid, bMid);
  for (let i = 0; i < common; i++) ops.push(...diff(a[pre + i] as Json, b[pre + i] as Json, `${path}/${pre + i}`));
  // Removals from the highest index down keep lower indices valid.
  for (let i = aMid - 1; i >= common; i--) ops.push({ op: 'remove', path: `${path}/${pre + i}` });
  for (let i = common; i < bMid; i++) ops.push({ op: 'add', path: `${path}/${pre + i}`, value: b[pre + i] as Json });
  return ops;
}

export class JsonPatchError extends Error {
  readonly code = 'AG_OPERATOR_JSON_PATCH';
}

/** Applies ops to a copy of `doc`. */
export function applyPatch(doc: Json, ops: readonly PatchOp[]): Json {
  let root = toJson(doc);
  for (const op of ops) {
    if (op.path === '') {
      if (op.op === 'remove') throw new JsonPatchError('cannot remove the root');
      root = toJson(op.value);
      continue;
    }
    const tokens = op.path.split('/').slice(1).map(unescapePointer);
    const last = tokens.pop() as string;
    let parent: Json = root;
    for (const t of tokens) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(t)] : isObject(parent) ? parent[t] : undefined;
      if (next === undefined) throw new JsonPatchError(`path not found: ${op.path}`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const idx = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(idx) || idx < 0 || idx > parent.length || (op.op !== 'add' && idx >= parent.length)) {
        throw new JsonPatchError(`bad array index in ${op.path}`);
      }
      if (op.op === 'add') parent.splice(idx, 0, toJson(op.value));
      else if (op.op === 'remove') parent.splice(idx, 1);
      else parent[idx] = toJson(op.value);
    } else if (isObject(parent)) {
      if (op.op !== 'add' && !Object.hasOwn(parent, last)) throw new JsonPatchError(`path not found: ${op.path}`);
      if (op.op === 'remove') delete parent[last];
      else parent[last] = toJson(op.value);
    } else {
      throw new JsonPatchError(`parent is not a container: ${op.path}`);
    }
  }
  return root;
}
