// Finds (or builds, via scripts/build-control-plane.sh) the kube-apiserver and
// etcd binaries cached outside the repo, keyed by the Kubernetes version that
// e2e/k8s/go.mod requires.
import { spawn } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlaneError } from './control-plane-errors.js';

export interface ControlPlaneBinaries {
  version: string;
  dir: string;
  kubeApiServer: string;
  etcd: string;
}

/** Root of the agentgate checkout: the nearest ancestor holding e2e/k8s/go.mod. */
export function findRepoRoot(): string {
  const starts = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      if (existsSync(path.join(dir, 'e2e', 'k8s', 'go.mod')) && existsSync(path.join(dir, 'scripts', 'build-control-plane.sh'))) {
        return dir;
      }
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new ControlPlaneError('CONTROL_PLANE_REPO_NOT_FOUND', `no e2e/k8s/go.mod above ${starts.join(' or ')}`);
}

/** The cache root shared by the build script, the harness and cluster-cli. */
export function cacheRoot(): string {
  const fromEnv = process.env['AGENTGATE_CACHE'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : path.join(homedir(), '.cache', 'agentgate');
}

export async function kubernetesVersion(repoRoot: string): Promise<string> {
  const goMod = await readFile(path.join(repoRoot, 'e2e', 'k8s', 'go.mod'), 'utf8');
  const match = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+\S*)\s*$/m.exec(goMod);
  if (match?.[1] === undefined) {
    throw new ControlPlaneError('CONTROL_PLANE_BUILD_FAILED', 'e2e/k8s/go.mod does not require k8s.io/kubernetes');
  }
  return match[1];
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const KEEP_OUTPUT_CHARS = 16_384;

/** Returns the cached binaries, running the build script first when they are missing. */
export async function ensureControlPlaneBinaries(opts?: { onProgress?: (line: string) => void }): Promise<ControlPlaneBinaries> {
  const repoRoot = findRepoRoot();
  const version = await kubernetesVersion(repoRoot);
  const dir = path.join(cacheRoot(), `k8s-${version}`);
  const result = { version, dir, kubeApiServer: path.join(dir, 'kube-apiserver'), etcd: path.join(dir, 'etcd') };
  if ((await isExecutable(result.kubeApiServer)) && (await isExecutable(result.etcd))) return result;

  const script = path.join(repoRoot, 'scripts', 'build-control-plane.sh');
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENTGATE_CACHE: cacheRoot() } });
  let output = '';
  const keep = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    opts?.onProgress?.(text);
    output = (output + text).slice(-KEEP_OUTPUT_CHARS);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).catch((err: unknown) => {
    throw new ControlPlaneError('CONTROL_PLANE_BUILD_FAILED', `cannot run ${script}: ${String(err)}`, { cause: err });
  });
  if (code !== 0) {
    throw new ControlPlaneError('CONTROL_PLANE_BUILD_FAILED', `${script} exited with ${String(code)}; output tail:\n${output}`);
  }
  if (!((await isExecutable(result.kubeApiServer)) && (await isExecutable(result.etcd)))) {
    throw new ControlPlaneError('CONTROL_PLANE_BUILD_FAILED', `${script} succeeded but ${dir} lacks kube-apiserver or etcd`);
  }
  return result;
}
