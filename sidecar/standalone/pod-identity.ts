// The pod the standalone sidecar pretends to run in: `--identity NS/SA` and
// `--pod-labels k=v,...`. Policies select on these like on a real pod.

import type { PodFacts } from '../../core/policy/activation.js';

export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

export function parseIdentity(value: string | undefined, labels: Record<string, string>): PodFacts {
  const text = value ?? 'default/default';
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  if (!m || !DNS_LABEL.test(m[1] ?? '') || !SA_NAME.test(m[2] ?? '')) {
    throw new UsageError(`--identity must be NAMESPACE/SERVICEACCOUNT (got ${JSON.stringify(text)})`);
  }
  return { namespace: m[1] ?? '', serviceAccount: m[2] ?? '', name: 'standalone', labels };
}

export function parsePodLabels(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined || value.trim() === '') return out;
  for (const pair of value.split(',')) {
    const i = pair.indexOf('=');
    const k = (i === -1 ? pair : pair.slice(0, i)).trim();
    const v = i === -1 ? '' : pair.slice(i + 1).trim();
    if (i === -1 || !LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) {
      throw new UsageError(`--pod-labels must be key=value pairs separated by commas (bad: ${JSON.stringify(pair)})`);
    }
    out[k] = v;
  }
  return out;
}
