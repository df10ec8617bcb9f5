import { describe, it, expect } from '@jest/globals';
import { parseArgs, UsageError } from './args.js';

const V = new Set(['--reason', '-o']);
const B = new Set(['--all']);

describe('parseArgs', () => {
  it('reads kubectl global flags anywhere, command flags and positionals', () => {
    const a = parseArgs(['-n', 'team-a', 'approve', 'ar-1', '--reason=looks good', '--kubeconfig', '/k', '--context', 'c'], V, B);
    expect(a).toMatchObject({ command: 'approve', positionals: ['ar-1'], namespace: 'team-a', kubeconfig: '/k', context: 'c' });
    expect(a.flags.get('--reason')).toBe('looks good');
    expect(parseArgs(['requests', '-A', '--all'], V, B)).toMatchObject({ allNamespaces: true, flags: new Map([['--all', true]]) });
  });

  it('refuses unknown flags and flags without a value', () => {
    expect(() => parseArgs(['approve', 'x', '--force'], V, B)).toThrow(UsageError);
    expect(() => parseArgs(['approve', 'x', '--reason'], V, B)).toThrow(/needs a value/);
  });
});
