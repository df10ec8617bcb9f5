import { describe, it, expect } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { compilePolicies } from '../core/policy/engine.js';
import type { AccessPolicyLike } from '../core/policy/policy-input.js';
import { BENCH_RULES } from './bench-policy-rules.js';
import { sidecarConfig } from './postgres-fixture.js';

describe('the benchmark policy', () => {
  it('is the same in the sidecar config the bench writes as in BENCH_RULES, and compiles without errors', () => {
    for (const masking of [true, false]) {
      const docs = parseAllDocuments(sidecarConfig({ pgPort: 5432, listenPort: 15432, password: 'x', masking, recording: true })).map(
        (d) => d.toJS() as { kind?: string },
      );
      const policy = docs.find((d) => d.kind === 'AccessPolicy') as AccessPolicyLike | undefined;
      expect(policy?.spec?.rules).toEqual(BENCH_RULES);
      const { errors } = compilePolicies([policy as AccessPolicyLike]);
      expect(errors).toEqual([]);
    }
  });
});
