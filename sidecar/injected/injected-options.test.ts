import { describe, it, expect } from '@jest/globals';
import { SIDECAR_ENV } from '../../operator/injection/sidecar-spec.js';
import { INJECTED_ENV, parseInjectedOptions } from './injected-options.js';

// The environment exactly as operator/injection/sidecar-spec.ts writes it (downward-API values resolved).
const ENV = {
  AGENTGATE_OPERATOR_URL: 'https://agentgate-operator.agentgate-system.svc:9443',
  AGENTGATE_OPERATOR_CA_FILE: '/var/run/agentgate/ca/ca.crt',
  AGENTGATE_TOKEN_FILE: '/var/run/secrets/agentgate.dev/token/token',
  AGENTGATE_SPOOL_DIR: '/var/spool/agentgate',
  AGENTGATE_ADMIN_PORT: '15020',
  AGENTGATE_POD_NAME: 'agent-7',
  AGENTGATE_POD_NAMESPACE: 'shop',
  AGENTGATE_POD_UID: '3f1c0d2e-0000-4000-8000-000000000001',
  AGENTGATE_SERVICE_ACCOUNT: 'agent',
  AGENTGATE_CONNECTIONS: 'shop-db,orders-db',
  AGENTGATE_TRANSPARENT: 'false',
};

describe('parseInjectedOptions', () => {
  it('reads every variable the injection webhook writes', () => {
    expect(INJECTED_ENV).toBe(SIDECAR_ENV);
    const o = parseInjectedOptions([], ENV);
    expect(o).toMatchObject({
      operatorUrl: ENV.AGENTGATE_OPERATOR_URL,
      operatorCaFile: ENV.AGENTGATE_OPERATOR_CA_FILE,
      tokenFile: ENV.AGENTGATE_TOKEN_FILE,
      spoolDir: ENV.AGENTGATE_SPOOL_DIR,
      adminPort: 15020,
      adminHost: '0.0.0.0',
      listenHost: '127.0.0.1',
      pod: { name: 'agent-7', namespace: 'shop', uid: ENV.AGENTGATE_POD_UID, serviceAccount: 'agent' },
      expectedConnections: ['shop-db', 'orders-db'],
      shutdownGraceMs: 30_000,
    });
  });

  it('lets a flag override its variable', () => {
    const o = parseInjectedOptions(['--admin-port', '0', '--admin-host', '127.0.0.1', '--shutdown-grace', '5s', '--log-level', 'debug'], ENV);
    expect(o).toMatchObject({ adminPort: 0, adminHost: '127.0.0.1', shutdownGraceMs: 5_000, logLevel: 'debug' });
  });

  it('reports every missing or bad setting at once, naming flag and variable', () => {
    expect(() => parseInjectedOptions([], {})).toThrow(/--operator-url \(or AGENTGATE_OPERATOR_URL\) is required[\s\S]*--admin-port \(or AGENTGATE_ADMIN_PORT\) is required/);
    expect(() => parseInjectedOptions([], { ...ENV, AGENTGATE_OPERATOR_URL: 'http://operator:9443', AGENTGATE_ADMIN_PORT: '99999' }))
      .toThrow(/--operator-url must be https[\s\S]*--admin-port must be a port number/);
    expect(() => parseInjectedOptions(['--bogus'], ENV)).toThrow(/bogus/);
  });

  it('refuses transparent mode instead of running without enforcement', () => {
    expect(() => parseInjectedOptions([], { ...ENV, AGENTGATE_TRANSPARENT: 'true' })).toThrow(/transparent mode is not supported/);
  });

  it('answers --help', () => {
    expect(parseInjectedOptions(['--help'], {})).toBe('help');
  });
});
