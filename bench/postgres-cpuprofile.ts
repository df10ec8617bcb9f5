// Summarises a V8 .cpuprofile (node --cpu-prof): self and total time per
// function, and self time per area (our code by file, each package, Node
// internals, GC). Pure: the profile in, rows out.

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileRow {
  /** "file:function:line" (file relative to the checkout, or the package / node: module). */
  name: string;
  area: string;
  /** Microseconds. */
  selfUs: number;
  totalUs: number;
  /** Of the busy (non-idle) time. */
  selfPct: number;
  totalPct: number;
}

export interface ProfileSummary {
  /** Busy time: every sample except (idle). */
  busyUs: number;
  idleUs: number;
  functions: ProfileRow[];
  areas: Array<{ area: string; selfUs: number; selfPct: number }>;
}

/** Where a frame's code lives: a checkout file ("sidecar/protocols/postgres/pg-session.ts"), "npm:<pkg>", "node:<module>", or a V8 pseudo-frame. */
export function frameArea(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm?.[1] !== undefined) return `npm:${nm[1]}`;
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  // Built code under dist/ (or another out dir) → the TypeScript source it came from.
  const m = /\/(core|sidecar|bench|testkit|cli|operator)\/(.*)\.js$/.exec(path);
  if (m?.[1] !== undefined && m[2] !== undefined) return `${m[1]}/${m[2]}.ts`;
  return path;
}

export function summarizeCpuProfile(p: CpuProfile): ProfileSummary {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // Time per node from the sample stream when present (exact), else from hit counts.
  const nodeUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the gap after it.
    for (let i = 0; i < samples.length; i++) {
      const next = deltas[i + 1] ?? 0;
      const id = samples[i] as number;
      nodeUs.set(id, (nodeUs.get(id) ?? 0) + Math.max(0, next));
    }
  } else {
    const hits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
    const per = hits > 0 ? (p.endTime - p.startTime) / hits : 0;
    for (const n of p.nodes) nodeUs.set(n.id, (n.hitCount ?? 0) * per);
  }

  const keyOf = (n: CpuProfileNode): string => {
    const area = frameArea(n.callFrame.url, n.callFrame.functionName);
    // Native frames by name (writev, write, …): "(native)" alone says nothing.
    if (n.callFrame.url === '') return area === '(native)' ? `(native):${n.callFrame.functionName || '(anonymous)'}` : area;
    return `${area}:${n.callFrame.functionName || '(anonymous)'}:${n.callFrame.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areaSelf = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const [id, us] of nodeUs) {
    if (us === 0) continue;
    const n = byId.get(id);
    if (n === undefined) continue;
    if (n.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const k = keyOf(n);
    self.set(k, (self.get(k) ?? 0) + us);
    const area = frameArea(n.callFrame.url, n.callFrame.functionName);
    areaSelf.set(area, (areaSelf.get(area) ?? 0) + us);
    // Total: once per distinct function on the stack (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (node === undefined) break;
      const key = keyOf(node);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + us);
    }
  }
  const pct = (us: number): number => (busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0);
  const functions: ProfileRow[] = [...total.entries()]
    .filter(([k]) => k !== '(root)')
    .map(([name, totalUs]) => {
      const selfUs = self.get(name) ?? 0;
      const area = name.split(':')[0] === 'node' ? `node:${name.split(':')[1] ?? ''}` : (name.split(':')[0] ?? name);
      return { name, area, selfUs, totalUs, selfPct: pct(selfUs), totalPct: pct(totalUs) };
    })
    .sort((a, b) => b.selfUs - a.selfUs);
  const areas = [...areaSelf.entries()].map(([area, us]) => ({ area, selfUs: us, selfPct: pct(us) })).sort((a, b) => b.selfUs - a.selfUs);
  return { busyUs, idleUs, functions, areas };
}
