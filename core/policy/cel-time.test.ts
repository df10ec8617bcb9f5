import { describe, expect, it } from '@jest/globals';
import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { EvalBudget } from './cel-bounds.js';
import { CelCompiler } from './cel-program.js';
import { toCelBindings, type Activation } from './activation.js';
import { TIME_FUNCS } from './cel-time.js';

// The stock accessors read fields through a local-time Date; in UTC they are right.
process.env['TZ'] = 'UTC';

const ZONES = [undefined, 'UTC', '+05:30', '-08:00', '00:00', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];
const ACCESSORS = ['getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear', 'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds'];

// Deterministic instants: around DST changes, year ends, leap days, before 1970.
const INSTANTS = [
  '1969-12-31T23:59:59.999Z',
  '2000-02-29T12:00:00.5Z',
  '2024-03-10T06:59:59Z',
  '2024-03-10T07:00:00Z',
  '2024-03-31T00:59:59Z',
  '2024-03-31T01:00:00Z',
  '2024-11-03T05:30:00Z',
  '2024-12-31T23:30:00.123Z',
  '2025-01-01T00:00:00Z',
  '2025-10-26T00:45:00Z',
  ...Array.from({ length: 40 }, (_, i) => new Date(Date.UTC(2025, 0, 1) + i * 9_876_543_210).toISOString()),
];

const compiler = new CelCompiler();
const stockEnv = celEnv();
const ourEnv = celEnv({ funcs: [...TIME_FUNCS] });
const act = (now: Date): Activation => ({
  identity: { kind: 'oidc', sub: 's', iss: 'i', groups: [], claims: {}, pod: { namespace: 'n', name: 'p', serviceAccount: 'sa', labels: {} } },
  connection: { name: 'c', protocol: 'http', host: 'h', port: 1, labels: {} },
  session: { id: 's', startedAt: now, statements: 0, denied: 0 },
  now,
});

describe('timestamp accessors match @bufbuild/cel', () => {
  it.each(ZONES.map((z) => [z ?? '(none)', z] as const))('zone %s', (_label, zone) => {
    for (const accessor of ACCESSORS) {
      const call = zone === undefined ? `now.${accessor}()` : `now.${accessor}('${zone}')`;
      const stockFn = plan(stockEnv, parse(call));
      const oursFn = plan(ourEnv, parse(call));
      for (const iso of INSTANTS) {
        const now = timestampFromMs(new Date(iso).getTime());
        const stock = stockFn({ now });
        const ours = oursFn({ now });
        if (isCelError(stock) || isCelError(ours)) throw new Error(`${call} failed at ${iso}`);
        expect({ call, iso, value: ours }).toEqual({ call, iso, value: stock });
      }
    }
  });

  it('are the ones the policy environment uses', () => {
    const r = compiler.compile("now.getHours('Asia/Kolkata') == 16 && now.getMinutes('Asia/Kolkata') == 0 && now.getDayOfWeek('-12:00') == 2");
    if (!r.ok) throw new Error(r.error.message);
    const out = r.program.evaluate(toCelBindings(act(new Date('2025-03-05T10:30:00Z'))), new EvalBudget(1000, performance.now() + 3_600_000, 3_600_000));
    expect(out).toEqual({ ok: true, value: true });
  });

  it('fails the rule on an unknown time zone', () => {
    const r = compiler.compile("now.getHours('Mars/Olympus_Mons') == 1");
    if (!r.ok) throw new Error(r.error.message);
    const out = r.program.evaluate(toCelBindings(act(new Date())), new EvalBudget(1000, performance.now() + 3_600_000, 3_600_000));
    expect(out).toMatchObject({ ok: false, reason: 'invalid time zone' });
  });
});
