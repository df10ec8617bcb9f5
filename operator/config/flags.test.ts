import { describe, it, expect } from '@jest/globals';
import { parseFlags, type OperatorOptions } from './flags.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): OperatorOptions => {
  const r = parseFlags(argv, env);
  if (r === 'help') throw new Error('help');
  return r;
};

describe('parseFlags', () => {
  it('has sane defaults', () => {
    const o = parse(['--sidecar-image', 'img:1']);
    expect(o).toMatchObject({
      namespace: 'agentgate-system', webhookPort: 9443, metricsPort: 8080, healthPort: 8081, leaderElect: false,
      manageWebhooks: false, sessionRecordTtlMs: 720 * 3_600_000, resyncPeriodMs: 600_000,
      operatorUrl: 'https://agentgate-operator.agentgate-system.svc:9443', webhookHost: undefined,
      transcriptDir: '/var/lib/agentgate/transcripts', accessRequestCreators: undefined, jitSweepIntervalMs: 60_000,
    });
  });

  it('reads the control-plane service flags', () => {
    const o = parse(['--sidecar-image', 'i', '--transcript-dir', '/data/t', '--access-request-creators', ' system:serviceaccount:ops:agentgate , admin ,', '--jit-sweep-interval', '30s']);
    expect(o).toMatchObject({ transcriptDir: '/data/t', accessRequestCreators: ['system:serviceaccount:ops:agentgate', 'admin'], jitSweepIntervalMs: 30_000 });
    expect(parse(['--sidecar-image', 'i'], { AGENTGATE_ACCESS_REQUEST_CREATORS: 'u1' }).accessRequestCreators).toEqual(['u1']);
  });

  it('reads flags, then AGENTGATE_* env', () => {
    const o = parse(['--webhook-port=9555', '--leader-elect', '--webhook-host', '127.0.0.1', '--session-record-ttl', '1h30m'],
      { AGENTGATE_SIDECAR_IMAGE: 'env:img', AGENTGATE_NAMESPACE: 'ops', AGENTGATE_MANAGE_WEBHOOKS: 'true' });
    expect(o).toMatchObject({
      webhookPort: 9555, leaderElect: true, webhookHost: '127.0.0.1', sessionRecordTtlMs: 5_400_000,
      sidecarImage: 'env:img', namespace: 'ops', manageWebhooks: true, operatorUrl: 'https://127.0.0.1:9555',
    });
  });

  it.each([
    [['--webhook-port', '70000', '--sidecar-image', 'i'], /--webhook-port: "70000" is not a port/],
    [['--webhook-port', '0', '--sidecar-image', 'i'], /--webhook-port: must be fixed/],
    [['--session-record-ttl', 'forever', '--sidecar-image', 'i'], /--session-record-ttl: invalid duration/],
    [[], /--sidecar-image: required/],
    [['--nope'], /Unknown option '--nope'/],
    [['--sidecar-image', 'i', '--log-level', 'loud'], /--log-level: unknown level/],
    [['--sidecar-image', 'i', '--access-request-creators', ' , '], /--access-request-creators: no user named/],
    [['--sidecar-image', 'i', '--transcript-dir', ''], /--transcript-dir: empty/],
    [['--sidecar-image', 'i', '--jit-sweep-interval', '0s'], /--jit-sweep-interval: must be positive/],
  ])('refuses %j', (argv, want) => {
    expect(() => parseFlags(argv, {})).toThrow(want);
  });

  it('answers --help', () => {
    expect(parseFlags(['--help'], {})).toBe('help');
  });
});
