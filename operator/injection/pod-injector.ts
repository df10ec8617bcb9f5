// Pod injection as a pure function: change a clone, then diff to a JSON
// Patch. Normalising (drop any existing sidecar and reserved volumes, add
// ours) makes it idempotent: a pod we already injected comes out identical,
// so the patch is empty; a look-alike "sidecar" someone wrote by hand is
// replaced by the real one.
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { selectorMatches } from '../kube/label-selector.js';
import type { LabelSelector } from '../kube/types.js';
import { diff, toJson, type Json, type PatchOp } from '../webhooks/json-patch.js';
import { CONNECTIONS_ANNOTATION, INJECT_ANNOTATION, SIDECAR_NAME, type InjectionConfig } from './injection-config.js';
import { findRefusals, type Refusal } from './refusals.js';
import { sidecarContainer, sidecarVolumes } from './sidecar-spec.js';

/** The fields of an AccessPolicy the injector reads (generated types are assignable). */
export interface PolicyForInjection {
  metadata?: { name?: string; namespace?: string };
  spec?: { podSelector?: LabelSelector | null; connections?: readonly string[] };
}
/** The fields of a Connection the injector reads. */
export interface ConnectionForInjection {
  metadata?: { name?: string; namespace?: string };
  spec?: { listen?: { port?: number }; env?: ReadonlyArray<{ name: string; value?: string }> };
}

export interface InjectionInputs {
  pod: V1Pod;
  /** From the admission request (pod.metadata.namespace may be empty on CREATE). */
  namespace: string;
  policies: readonly PolicyForInjection[];
  /** Looks up a Connection by namespace and name (the informer cache). */
  connection: (namespace: string, name: string) => ConnectionForInjection | undefined;
}

export type InjectionResult =
  | { kind: 'skip'; reason: string }
  | { kind: 'refuse'; refusals: Refusal[] }
  | { kind: 'unchanged'; connections: string[] }
  | { kind: 'inject'; patch: PatchOp[]; pod: V1Pod; connections: string[]; warnings: string[] };

/** Policies in the pod's namespace whose podSelector matches its labels. */
export function selectingPolicies<P extends PolicyForInjection>(policies: readonly P[], namespace: string, labels: Record<string, string> | undefined): P[] {
  return policies.filter((p) => p.metadata?.namespace === namespace && selectorMatches(p.spec?.podSelector, labels));
}

export function injectPod(input: InjectionInputs, cfg: InjectionConfig): InjectionResult {
  const { pod, namespace } = input;
  if (cfg.excludedNamespaces.includes(namespace)) return { kind: 'skip', reason: `namespace ${namespace} is never injected` };
  if (pod.metadata?.annotations?.[INJECT_ANNOTATION] === 'false') return { kind: 'skip', reason: `annotation ${INJECT_ANNOTATION}: "false"` };

  const refusals = findRefusals(pod, cfg);
  const warnings: string[] = [];

  // Which connections this pod gets: those of the policies that select it.
  const wanted = new Set<string>();
  for (const p of selectingPolicies(input.policies, namespace, pod.metadata?.labels)) for (const c of p.spec?.connections ?? []) wanted.add(c);
  const connections: Array<{ name: string; conn: ConnectionForInjection }> = [];
  for (const name of [...wanted].sort()) {
    const conn = input.connection(namespace, name);
    if (conn) connections.push({ name, conn });
    else warnings.push(`Connection ${namespace}/${name} does not exist; not configured`);
  }
  const ports = new Map<number, string>();
  for (const { name, conn } of connections) {
    const port = conn.spec?.listen?.port;
    if (port === undefined) continue;
    const clash = port === cfg.adminPort ? 'the sidecar admin port' : ports.get(port);
    if (clash) refusals.push({ field: `Connection ${namespace}/${name} spec.listen.port`, reason: `${port} is already used by ${clash}` });
    ports.set(port, `Connection ${namespace}/${name}`);
  }
  if (refusals.length > 0) return { kind: 'refuse', refusals };

  const names = connections.map((c) => c.name);
  const before = toJson(pod);
  const out = structuredClone(pod);
  const spec = out.spec ?? (out.spec = { containers: [] });

  // The sidecar: replace in place if one is there, else first init container,
  // so later init containers already run behind enforcement.
  const init = spec.initContainers ?? [];
  const idx = init.findIndex((c) => c.name === SIDECAR_NAME);
  const sidecar = sidecarContainer(cfg, names);
  if (idx >= 0) init[idx] = sidecar;
  else init.unshift(sidecar);
  spec.initContainers = init;

  // Reserved volumes are replaced where they stand (stable under reinvocation), else appended.
  const volumes = spec.volumes ?? [];
  for (const v of sidecarVolumes(cfg)) {
    const i = volumes.findIndex((x) => x.name === v.name);
    if (i >= 0) volumes[i] = v;
    else volumes.push(v);
  }
  spec.volumes = volumes;

  // Connection env into every agent container; a name the user set wins.
  const targets: V1Container[] = [...spec.containers, ...init.filter((c) => c.name !== SIDECAR_NAME)];
  for (const { conn } of connections) {
    for (const e of conn.spec?.env ?? []) {
      for (const c of targets) {
        const env: V1EnvVar[] = c.env ?? [];
        if (env.some((x) => x.name === e.name)) continue;
        env.push(e.value === undefined ? { name: e.name } : { name: e.name, value: e.value });
        c.env = env;
      }
    }
  }

  const meta = out.metadata ?? (out.metadata = {});
  meta.annotations = { ...(meta.annotations ?? {}), [CONNECTIONS_ANNOTATION]: names.join(',') };

  const patch = diff(before, toJson(out));
  if (patch.length === 0) return { kind: 'unchanged', connections: names };
  return { kind: 'inject', patch, pod: out, connections: names, warnings };
}

export type { Json };
