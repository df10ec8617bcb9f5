// `kubelet-cli run NAMESPACE/POD`: a person-facing kubelet stand-in for the
// local control plane (make cluster-up runs no kubelet, so pods stay
// Pending). It reads the pod as the API server stored it (after the injection
// webhook) and starts its `agentgate-sidecar` container exactly as the pod
// spec says, with e2e/harness/agent-pod.ts: args, environment, a projected
// service-account token from the TokenRequest API bound to the pod, the
// ConfigMap and emptyDir volumes, its user, its startup probe. Then it prints
// the agent container's environment (PGHOST, PGPORT, ...) and stays in the
// foreground; Ctrl-C, or deleting the pod, stops the sidecar as a kubelet
// does (SIGTERM, then the grace period).
//
// The pod's network namespace is this host's loopback here: anything on this
// machine that connects to the sidecar's port is "in the pod".
import { KubeConfig } from '@kubernetes/client-node';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeApiError } from '../../operator/errors.js';
import { KubeClient } from '../../operator/kube/kube-client.js';
import { R } from '../../operator/kube/resources.js';
import { startAgentPod, type AgentPod, type PodObject } from './agent-pod.js';

const USAGE = `kubelet-cli run NAMESPACE/POD [--kubeconfig FILE] [--trust-ca FILE]

Starts the injected agentgate sidecar of a pod on the local control plane, as
the kubelet would, and keeps it running until Ctrl-C or the pod is deleted.
  --kubeconfig FILE   default: $KUBECONFIG, else ~/.kube/config
  --trust-ca FILE     an extra CA for the sidecar's trust store (e.g. of an OIDC
                      issuer that agent tokens come from); an image would have it
                      in its system bundle
`;

const DEFAULT_GRACE_SECONDS = 30;
const POD_CHECK_INTERVAL_MS = 2_000;

interface Args { namespace: string; name: string; kubeconfig?: string; trustCa?: string }

function parse(argv: string[]): Args | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { kubeconfig: { type: 'string' }, 'trust-ca': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  const [command, target, ...rest] = parsed.positionals;
  if (parsed.values.help === true) return '';
  if (command !== 'run' || target === undefined || rest.length > 0) return 'expected: run NAMESPACE/POD';
  const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)$/.exec(target);
  if (m === null) return `${JSON.stringify(target)} is not NAMESPACE/POD`;
  return { namespace: m[1] ?? '', name: m[2] ?? '', kubeconfig: parsed.values.kubeconfig, trustCa: parsed.values['trust-ca'] };
}

/** The pod's uid now, or undefined once it is gone. */
async function currentUid(client: KubeClient, ns: string, name: string): Promise<string | undefined> {
  try {
    return (await client.get<PodObject & { metadata: Record<string, unknown> }>(R.pods, ns, name)).metadata.uid;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** Quotes a value for a POSIX shell `export` line. */
const shellQuote = (v: string): string => (/^[A-Za-z0-9_./:@%+=,-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);

async function run(a: Args): Promise<number> {
  const kc = new KubeConfig();
  if (a.kubeconfig !== undefined) kc.loadFromFile(a.kubeconfig);
  else kc.loadFromDefault();
  const client = new KubeClient(kc, 'agentgate-kubelet-stand-in');
  const pod = await client.get<PodObject & { metadata: Record<string, unknown>; spec: { terminationGracePeriodSeconds?: number } }>(R.pods, a.namespace, a.name);
  const grace = (pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);

  out(`kubelet stand-in: starting the agentgate-sidecar container of pod ${a.namespace}/${a.name} as its spec says`);
  const agent: AgentPod = await startAgentPod({ pod, client, trustedCaFile: a.trustCa });
  const env = agent.sidecarEnv;
  out(`  sidecar: pid ${agent.process.pid}, log ${agent.logPath}`);
  out(`  startup probe: GET http://127.0.0.1:${agent.adminPort}/readyz → 200`);
  out(`  operator: ${env.AGENTGATE_OPERATOR_URL ?? '?'}, service-account token bound to the pod (TokenRequest)`);
  const agentEnv = Object.entries(agent.agentEnv());
  out(`The agent container's environment (run the agent's commands with it):`);
  out(agentEnv.length > 0 ? `export ${agentEnv.map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ')}` : '# (no variables injected)');
  out(`Ctrl-C (or kubectl delete pod ${a.name} -n ${a.namespace}) stops the sidecar.`);

  let stopping: string | undefined;
  const stop = (why: string): void => {
    stopping ??= why;
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // The kubelet's loop, in short: keep the container while the pod exists (the same pod: a recreated one has a new uid).
  let lastCheck = Date.now();
  while (stopping === undefined && !agent.process.hasExited()) {
    await sleep(200);
    if (Date.now() - lastCheck < POD_CHECK_INTERVAL_MS) continue;
    lastCheck = Date.now();
    const uid = await currentUid(client, a.namespace, a.name).catch(() => pod.metadata.uid);
    if (uid !== pod.metadata.uid) stop('the pod was deleted');
  }
  if (stopping === undefined) {
    const status = await agent.process.exited;
    process.stderr.write(`kubelet stand-in: the sidecar exited by itself (${JSON.stringify(status)}); its log:\n${agent.logs().slice(-4000)}\n`);
    await agent.stop(0);
    return 1;
  }
  out(`${stopping}: stopping the sidecar (SIGTERM, grace period ${grace / 1000}s)`);
  await agent.stop(grace);
  const status = await agent.process.exited;
  out(`  sidecar exited: ${status.signal ?? `code ${String(status.code)}`}`);
  return status.code === 0 ? 0 : 1;
}

const parsed = parse(process.argv.slice(2));
if (typeof parsed === 'string') {
  if (parsed === '') process.stdout.write(USAGE);
  else process.stderr.write(`kubelet-cli: ${parsed}\n\n${USAGE}`);
  process.exit(parsed === '' ? 0 : 2);
}
run(parsed).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kubelet-cli: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
