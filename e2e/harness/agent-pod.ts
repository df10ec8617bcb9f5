// Plays the kubelet for one agent pod's injected sidecar: given the Pod as the
// API server returned it (after the injection webhook), it starts the
// `agentgate-sidecar` init container exactly as the pod spec says: its
// args and environment (downward-API fields resolved from the pod object), its
// volumes (a real projected service-account token from the TokenRequest API,
// bound to this pod, with the audience and lifetime of the projected volume;
// the ConfigMap items; an emptyDir), its user (runAsUser/runAsGroup via
// setpriv), and its startup probe (waits for /readyz as the kubelet would).
//
// What cannot be literal on one host, and how it is mapped:
// - The image. The agentgate image's entrypoint is `agentgate-sidecar`
//   (package.json "bin": dist/sidecar/main.js), so the container runs as
//   `node dist/sidecar/main.js <args>` from this checkout's build. A container
//   that sets `command` is refused: there is no image to take it from.
// - The mount namespace. Each volumeMount's mountPath becomes a directory
//   under a temp root (<root>/<mountPath>); environment values that point into
//   a mount are rewritten to the mapped path (the sidecar only learns paths
//   from its environment).
// - The network namespace. The pod IP is 127.0.0.1 here
//   (AGENTGATE_ADMIN_HOST=127.0.0.1), and each declared containerPort is
//   mapped to a free host port (the value of any variable naming that port is
//   rewritten; the probe uses the mapped port). Connection listen ports are not
//   remapped: tests give their Connections free ports.
// - The image's trust store. An extra CA (e.g. of a test OIDC issuer) can be
//   added with `trustedCaFile`, as NODE_EXTRA_CA_CERTS: in an image it would
//   be in the system bundle.
// The kubelet's token refresh (at 80% of the lifetime) is not reproduced:
// tests are shorter than the token's lifetime.
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KubeClient } from '../../operator/kube/kube-client.js';
import { R } from '../../operator/kube/resources.js';
import { freePort } from '../../testkit/ports.js';
import { startProcess, type ManagedProcess } from '../../testkit/processes.js';
import { findRepoRoot } from './control-plane-binaries.js';

export const SIDECAR_CONTAINER = 'agentgate-sidecar';
// The checkout, from e2e/harness (tests) or dist/e2e/harness (the built kubelet stand-in) alike.
const ROOT = findRepoRoot();
/** The agentgate image's entrypoint, mapped to this checkout's build. */
export const SIDECAR_ENTRYPOINT = [process.execPath, join(ROOT, 'dist/sidecar/main.js')];

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string }; configMapKeyRef?: unknown; secretKeyRef?: unknown; resourceFieldRef?: unknown };
}
interface Probe { httpGet?: { path?: string; port?: number | string }; periodSeconds?: number; failureThreshold?: number }
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ containerPort: number; name?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
  startupProbe?: Probe;
  securityContext?: { runAsUser?: number; runAsGroup?: number };
}
interface Volume {
  name: string;
  projected?: { defaultMode?: number; sources?: Array<{ serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string } }> };
  configMap?: { name: string; items?: Array<{ key: string; path: string }>; defaultMode?: number };
  emptyDir?: Record<string, unknown>;
}
export interface PodObject {
  metadata: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string> };
  spec: {
    serviceAccountName?: string;
    initContainers?: Container[];
    containers: Container[];
    volumes?: Volume[];
    securityContext?: { runAsUser?: number; runAsGroup?: number };
  };
}

export interface AgentPodOptions {
  pod: PodObject;
  /** Reads ConfigMaps and requests tokens (the kubelet's own rights). */
  client: KubeClient;
  /** Extra CA for the image's trust store (NODE_EXTRA_CA_CERTS). */
  trustedCaFile?: string;
  /** How long to wait for the startup probe (default: what the probe allows). */
  startupTimeoutMs?: number;
}

export interface AgentPod {
  /** Host port of the sidecar's admin (probe) port. */
  adminPort: number;
  /** Environment of the agent container (`container`, default the first), values only (PGHOST, PGPORT, ...). */
  agentEnv(container?: string): Record<string, string>;
  /** Host directory of a volume, by volume name (e.g. the spool). */
  volumeDir(volume: string): string;
  /** The sidecar's environment as started (after mapping). */
  sidecarEnv: Record<string, string>;
  process: ManagedProcess;
  logPath: string;
  logs(): string;
  /** SIGTERM (the kubelet's stop), then SIGKILL after the grace period; removes the temp root. */
  stop(graceMs?: number): Promise<void>;
}

function resolveEnv(pod: PodObject, v: EnvVar): string {
  if (v.value !== undefined) return v.value;
  const path = v.valueFrom?.fieldRef?.fieldPath;
  switch (path) {
    case 'metadata.name': return pod.metadata.name ?? '';
    case 'metadata.namespace': return pod.metadata.namespace ?? '';
    case 'metadata.uid': return pod.metadata.uid ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP': return '127.0.0.1';
    default:
      if (path !== undefined && path.startsWith('metadata.labels[')) {
        const key = /^metadata\.labels\['(.+)'\]$/.exec(path)?.[1] ?? '';
        return pod.metadata.labels?.[key] ?? '';
      }
      throw new Error(`env ${v.name}: valueFrom ${JSON.stringify(v.valueFrom)} is not supported by the agent-pod harness`);
  }
}

export async function startAgentPod(o: AgentPodOptions): Promise<AgentPod> {
  const pod = o.pod;
  const ns = pod.metadata.namespace ?? '';
  const podName = pod.metadata.name ?? '';
  const sidecar = pod.spec.initContainers?.find((c) => c.name === SIDECAR_CONTAINER);
  if (sidecar === undefined) throw new Error(`pod ${ns}/${podName} has no ${SIDECAR_CONTAINER} init container (was it injected?)`);
  if (sidecar.command !== undefined && sidecar.command.length > 0) throw new Error(`${SIDECAR_CONTAINER} sets command ${JSON.stringify(sidecar.command)}; the harness maps only the image entrypoint`);

  const uidEarly = sidecar.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser;
  const gidEarly = sidecar.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup ?? uidEarly;
  if (uidEarly !== undefined) assertReachableBy(uidEarly, gidEarly ?? uidEarly, [dirname(SIDECAR_ENTRYPOINT[1] as string), dirname(process.execPath)]);
  const root = await mkdtemp(join(tmpdir(), `agentgate-pod-${podName}-`));
  await chmod(root, 0o755);
  const hostPath = (containerPath: string): string => join(root, 'fs', containerPath);
  const uid = sidecar.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser;
  const gid = sidecar.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup ?? uid;
  try {
    // Volumes, as the kubelet would materialise them for this container.
    const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    const volumeDirs = new Map<string, string>();
    const mounts: Array<{ containerPath: string; host: string }> = [];
    for (const m of sidecar.volumeMounts ?? []) {
      const v = volumes.get(m.name);
      if (v === undefined) throw new Error(`volumeMount ${m.name}: no such volume in the pod`);
      if (m.subPath !== undefined) throw new Error(`volumeMount ${m.name}: subPath is not supported by the agent-pod harness`);
      const dir = hostPath(m.mountPath);
      await mkdir(dir, { recursive: true });
      for (let d = dir; d.startsWith(root) && d !== root; d = dirname(d)) await chmod(d, 0o755);
      if (v.projected !== undefined) {
        const mode = v.projected.defaultMode ?? 0o644;
        for (const s of v.projected.sources ?? []) {
          const t = s.serviceAccountToken;
          if (t === undefined) throw new Error(`volume ${v.name}: only serviceAccountToken projections are supported`);
          // The kubelet's TokenRequest: the pod's service account, bound to this pod (name and uid).
          const tr = await o.client.request<{ status?: { token?: string } }>(
            'POST',
            `/api/v1/namespaces/${ns}/serviceaccounts/${pod.spec.serviceAccountName ?? 'default'}/token`,
            {
              body: {
                apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
                spec: {
                  audiences: t.audience !== undefined ? [t.audience] : [],
                  expirationSeconds: t.expirationSeconds ?? 3600,
                  boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod.metadata.uid },
                },
              },
            },
          );
          const token = tr.status?.token;
          if (token === undefined || token === '') throw new Error(`TokenRequest for ${ns}/${podName} returned no token`);
          await writeFile(join(dir, t.path), token, { mode });
          await chmod(join(dir, t.path), mode);
        }
      } else if (v.configMap !== undefined) {
        const cm = await o.client.get<{ metadata: Record<string, unknown>; data?: Record<string, string> }>(R.configMaps, ns, v.configMap.name);
        const items = v.configMap.items ?? Object.keys(cm.data ?? {}).map((k) => ({ key: k, path: k }));
        const mode = v.configMap.defaultMode ?? 0o644;
        for (const it of items) {
          const value = cm.data?.[it.key];
          if (value === undefined) throw new Error(`ConfigMap ${ns}/${v.configMap.name} has no key ${it.key}`);
          await mkdir(dirname(join(dir, it.path)), { recursive: true });
          await writeFile(join(dir, it.path), value, { mode });
          await chmod(join(dir, it.path), mode);
        }
      } else if (v.emptyDir !== undefined) {
        await chmod(dir, 0o777); // as the kubelet makes an emptyDir: writable by the container's user
        if (uid !== undefined) await chown(dir, uid, gid ?? uid);
      } else {
        throw new Error(`volume ${v.name}: only projected, configMap and emptyDir volumes are supported`);
      }
      volumeDirs.set(m.name, dir);
      mounts.push({ containerPath: m.mountPath, host: dir });
    }

    // Ports of the pod's network namespace → free host ports.
    const portMap = new Map<number, number>();
    for (const p of sidecar.ports ?? []) portMap.set(p.containerPort, await freePort());

    const env: Record<string, string> = {};
    for (const v of sidecar.env ?? []) {
      let value = resolveEnv(pod, v);
      for (const m of mounts) {
        if (value === m.containerPath || value.startsWith(`${m.containerPath}/`)) value = m.host + value.slice(m.containerPath.length);
      }
      if (/^\d+$/.test(value) && portMap.has(Number(value))) value = String(portMap.get(Number(value)));
      env[v.name] = value;
    }
    env.AGENTGATE_ADMIN_HOST = '127.0.0.1';
    if (o.trustedCaFile !== undefined) {
      const copy = join(root, 'trusted-ca.crt');
      await writeFile(copy, await readFile(o.trustedCaFile), { mode: 0o644 });
      env.NODE_EXTRA_CA_CERTS = copy;
    }

    const logPath = join(root, 'sidecar.log');
    const [bin, ...entry] = SIDECAR_ENTRYPOINT as [string, ...string[]];
    const proc = startProcess(`${ns}/${podName}/${SIDECAR_CONTAINER}`, bin, [...entry, ...(sidecar.args ?? [])], {
      logPath,
      env,
      cwd: root,
      ...(uid !== undefined ? { runAs: { uid, gid: gid ?? uid } } : {}),
    });
    const logs = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');

    // The startup probe, as the kubelet runs it.
    const probe = sidecar.startupProbe?.httpGet;
    const probePort = typeof probe?.port === 'number' ? (portMap.get(probe.port) ?? probe.port) : undefined;
    if (probe === undefined || probePort === undefined) throw new Error(`${SIDECAR_CONTAINER} has no numeric httpGet startup probe`);
    const period = (sidecar.startupProbe?.periodSeconds ?? 10) * 1000;
    const failures = sidecar.startupProbe?.failureThreshold ?? 3;
    const deadline = Date.now() + (o.startupTimeoutMs ?? period * failures);
    let status = 0;
    while (Date.now() < deadline && !proc.hasExited()) {
      status = await httpStatus(probePort, probe.path ?? '/');
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, Math.min(period, 200)));
    }
    if (status !== 200) {
      await proc.stop({ graceMs: 2_000 });
      throw new Error(`the sidecar of ${ns}/${podName} did not pass its startup probe (${probe.path ?? '/'} → ${status}):\n${logs().slice(-4000)}`);
    }

    const agentEnv = (name?: string): Record<string, string> => {
      const c = name === undefined ? pod.spec.containers[0] : pod.spec.containers.find((x) => x.name === name);
      if (c === undefined) throw new Error(`pod ${ns}/${podName} has no container ${name ?? '(first)'}`);
      const out: Record<string, string> = {};
      for (const v of c.env ?? []) if (v.value !== undefined) out[v.name] = v.value;
      return out;
    };
    let stopped = false;
    return {
      adminPort: probePort,
      agentEnv,
      volumeDir: (name) => {
        const d = volumeDirs.get(name);
        if (d === undefined) throw new Error(`the sidecar mounts no volume ${name}`);
        return d;
      },
      sidecarEnv: env,
      process: proc,
      logPath,
      logs,
      async stop(graceMs = 30_000) {
        if (stopped) return;
        stopped = true;
        await proc.stop({ signal: 'SIGTERM', graceMs });
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((res) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 1000 }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(0));
  });
}

/**
 * The container runs as the pod's user with this checkout's build and Node: a
 * checkout inside a directory only root may enter (e.g. `mktemp -d`, mode
 * 0700) would fail later as "Cannot find module". Say so at once instead.
 */
function assertReachableBy(uid: number, gid: number, dirs: string[]): void {
  for (const start of dirs) {
    for (let d = start; ; d = dirname(d)) {
      const st = statSync(d);
      const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
      const searchable = uid === 0 || (st.mode & bit) !== 0;
      if (!searchable) {
        throw new Error(
          `the sidecar runs as uid ${uid} (the pod's runAsUser) but cannot enter ${d} (mode ${(st.mode & 0o777).toString(8)}), ` +
            `which holds ${start}: use a checkout (and Node) in directories other users can enter, e.g. chmod o+x ${d}`,
        );
      }
      if (d === dirname(d)) break;
    }
  }
}
