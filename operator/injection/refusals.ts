// Pod shapes that would let the agent reach into the sidecar (DESIGN.md,
// threat model). Each refusal names the field and says why. The sidecar's own
// container and volumes (if present from an earlier pass) are not judged here:
// the injector replaces them with its own.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { RESERVED_VOLUMES, SIDECAR_NAME, TOKEN_VOLUME, type InjectionConfig } from './injection-config.js';

export interface Refusal {
  field: string;
  reason: string;
}

type Kind = 'containers' | 'initContainers' | 'ephemeralContainers';
interface Located {
  kind: Kind;
  c: V1Container;
}

/** Every container of the pod except the injected sidecar. */
export function agentContainers(pod: V1Pod): Located[] {
  const out: Located[] = [];
  for (const c of pod.spec?.containers ?? []) out.push({ kind: 'containers', c });
  for (const c of pod.spec?.initContainers ?? []) if (c.name !== SIDECAR_NAME) out.push({ kind: 'initContainers', c });
  for (const c of pod.spec?.ephemeralContainers ?? []) out.push({ kind: 'ephemeralContainers', c: c as V1Container });
  return out;
}

const at = (l: Located): string => `spec.${l.kind}[name=${l.c.name}]`;

const NET_CAPS = new Set(['NET_ADMIN', 'NET_RAW', 'ALL']);
const normCap = (c: string): string => c.toUpperCase().replace(/^CAP_/, '');

export function findRefusals(pod: V1Pod, cfg: InjectionConfig): Refusal[] {
  const spec = pod.spec;
  const out: Refusal[] = [];
  if (!spec) return [{ field: 'spec', reason: 'the pod has no spec' }];

  if (spec.hostNetwork === true) {
    out.push({ field: 'spec.hostNetwork', reason: 'true puts the pod in the node\'s network namespace, where the sidecar\'s loopback listeners are shared with the node and traffic can bypass it' });
  }
  if (spec.shareProcessNamespace === true) {
    out.push({ field: 'spec.shareProcessNamespace', reason: 'true lets the agent\'s containers see the sidecar\'s processes and read their memory, environment and open files' });
  }
  if (spec.hostPID === true) {
    out.push({ field: 'spec.hostPID', reason: 'true lets the agent\'s containers see the sidecar\'s processes through the node\'s process namespace' });
  }
  if (spec.containers?.some((c) => c.name === SIDECAR_NAME)) {
    out.push({ field: `spec.containers[name=${SIDECAR_NAME}]`, reason: `the name ${SIDECAR_NAME} is reserved for the injected sidecar` });
  }

  const uid = cfg.sidecarUid;
  const podUid = spec.securityContext?.runAsUser;
  const inheritors: string[] = [];
  for (const l of agentContainers(pod)) {
    const own = l.c.securityContext?.runAsUser;
    if (own === uid) {
      out.push({ field: `${at(l)}.securityContext.runAsUser`, reason: `${uid} is the sidecar's user; another container running as it could read the sidecar's files and signal its processes` });
    } else if (own === undefined && podUid === uid) {
      inheritors.push(l.c.name);
    }
    for (const m of l.c.volumeMounts ?? []) {
      if (RESERVED_VOLUMES.includes(m.name)) {
        out.push({ field: `${at(l)}.volumeMounts[name=${m.name}]`, reason: `the volume ${m.name} belongs to the sidecar (its token, CA or spool); only the sidecar may mount it` });
      }
    }
    for (const d of l.c.volumeDevices ?? []) {
      if (RESERVED_VOLUMES.includes(d.name)) {
        out.push({ field: `${at(l)}.volumeDevices[name=${d.name}]`, reason: `the volume ${d.name} belongs to the sidecar; only the sidecar may use it` });
      }
    }
    if (cfg.transparentMode) {
      const sc = l.c.securityContext;
      if (sc?.privileged === true) {
        out.push({ field: `${at(l)}.securityContext.privileged`, reason: 'in transparent mode a privileged agent container could rewrite the traffic redirection to the sidecar' });
      }
      const bad = (sc?.capabilities?.add ?? []).filter((c) => NET_CAPS.has(normCap(c)));
      if (bad.length > 0) {
        out.push({ field: `${at(l)}.securityContext.capabilities.add`, reason: `${bad.join(', ')} lets the agent change the traffic redirection to the sidecar (transparent mode)` });
      }
    }
  }
  if (inheritors.length > 0) {
    out.push({ field: 'spec.securityContext.runAsUser', reason: `${uid} is the sidecar's user and containers ${inheritors.join(', ')} inherit it; set another runAsUser` });
  }

  for (const v of spec.volumes ?? []) {
    const sources = v.projected?.sources ?? [];
    sources.forEach((s, i) => {
      if (v.name === TOKEN_VOLUME) return; // replaced by the injector's own volume
      if (s.serviceAccountToken && (s.serviceAccountToken.audience ?? '') === cfg.tokenAudience) {
        out.push({ field: `spec.volumes[name=${v.name}].projected.sources[${i}].serviceAccountToken.audience`, reason: `a token for ${cfg.tokenAudience} would let the agent talk to the operator as the sidecar` });
      }
    });
  }
  return out;
}

export function formatRefusals(refusals: readonly Refusal[]): string {
  return `agentgate: pod refused: ${refusals.map((r) => `${r.field}: ${r.reason}`).join('; ')}`;
}
