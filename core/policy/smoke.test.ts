import { loadModule, parseSync } from 'libpg-query';
import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';

describe('toolchain', () => {
  it('loads the parser and the kube client', async () => {
    await loadModule();
    const tree = parseSync('select 1') as { stmts: unknown[] };
    expect(tree.stmts).toHaveLength(1);
    expect(typeof k8s.KubeConfig).toBe('function');
  });
});
