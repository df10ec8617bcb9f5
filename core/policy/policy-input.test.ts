import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { AccessPolicy } from '../resources/generated.js';
import { compilePolicies } from './engine.js';
import type { AccessPolicyLike } from './policy-input.js';

// Compile-time check: the generated CRD types must stay assignable to the engine's input.
const asInput = (p: AccessPolicy): AccessPolicyLike => p;

const examplesDir = fileURLToPath(new URL('../../examples/', import.meta.url));

function examplePolicies(): AccessPolicy[] {
  const out: AccessPolicy[] = [];
  for (const file of readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(examplesDir + file, 'utf8'))) {
      const obj = doc.toJS() as { kind?: string } | null;
      if (obj?.kind === 'AccessPolicy') out.push(obj as AccessPolicy);
    }
  }
  return out;
}

describe('AccessPolicyLike', () => {
  it('every example AccessPolicy compiles without errors', () => {
    const policies = examplePolicies();
    expect(policies.length).toBeGreaterThan(0);
    const { errors } = compilePolicies(policies.map(asInput));
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
