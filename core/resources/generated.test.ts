// The committed generated files must be exactly what scripts/gen-types.ts
// makes from crds/*.yaml today, so the types never drift from the CRDs.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, readCrdSources, OUTPUT_CRDS, OUTPUT_TYPES } from '../../scripts/gen-types.js';
import { parse } from 'yaml';
import { CRDS } from './generated-crds.js';
import { API_VERSION, GROUP, KINDS, PLURALS, SHORT_NAMES, VERSION } from './generated.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const HOW = 'run: node --experimental-strip-types scripts/gen-types.ts';

describe('generated types', () => {
  const sources = readCrdSources(repo);
  const files = generate(sources);

  it.each([OUTPUT_TYPES, OUTPUT_CRDS])('%s matches the CRDs (else %s)', (rel) => {
    const committed = readFileSync(join(repo, rel), 'utf8');
    const fresh = files.get(rel);
    if (fresh !== committed) throw new Error(`${rel} is out of date with crds/*.yaml; ${HOW}`);
    expect(fresh).toBe(committed);
  });

  it('embeds the CRDs as they are in crds/*.yaml', () => {
    const fromYaml = sources.map((s) => parse(s.text) as unknown);
    expect(CRDS).toEqual(fromYaml);
  });

  it('exports the group, version and names the CRDs declare', () => {
    expect(GROUP).toBe('agentgate.dev');
    expect(VERSION).toBe('v1alpha1');
    expect(API_VERSION).toBe('agentgate.dev/v1alpha1');
    expect([...KINDS].sort()).toEqual(['AccessPolicy', 'AccessRequest', 'Connection', 'SessionRecord']);
    expect(PLURALS).toEqual({ AccessPolicy: 'accesspolicies', AccessRequest: 'accessrequests', Connection: 'connections', SessionRecord: 'sessionrecords' });
    expect(SHORT_NAMES.Connection).toEqual(['conn']);
  });

  it('detects drift: a changed CRD changes the output', () => {
    const changed = sources.map((s) =>
      s.file === 'connections.yaml' ? { ...s, text: s.text.replace('description: Port on 127.0.0.1 in the pod (1024..65535).', 'description: Local port.') } : s,
    );
    const out = generate(changed).get(OUTPUT_TYPES);
    expect(out).not.toBe(files.get(OUTPUT_TYPES));
    expect(out).toContain('/** Local port. */');
  });

  it('refuses a shared type whose shape differs between kinds', () => {
    // Protocol is shared by three kinds: one kind disagreeing is an error, not a silent merge.
    const changed = sources.map((s) =>
      s.file === 'connections.yaml' ? { ...s, text: s.text.replace('enum: [postgres, ssh, http]', 'enum: [postgres, ssh, http, mysql]') } : s,
    );
    expect(() => generate(changed)).toThrow(/type name Protocol is used for different shapes/);
  });

  it('turns required, optional, enums, defaults and descriptions into TypeScript', () => {
    const types = files.get(OUTPUT_TYPES) ?? '';
    expect(types).toContain("export type Protocol = 'postgres' | 'ssh' | 'http';");
    expect(types).toMatch(/export interface ConnectionSpec \{[^}]*\n {2}protocol: Protocol;[^}]*\n {2}tls\?: ConnectionTLS;/);
    expect(types).toMatch(/\* @default "username"\n {3}\*\/\n {2}usernameKey\?: string;/);
    expect(types).toContain('/** Port on 127.0.0.1 in the pod (1024..65535). */\n  port: number;');
    expect(types).toContain('matchLabels?: Record<string, string>;');
    expect(types).toContain('conditions?: Condition[];');
  });
});
