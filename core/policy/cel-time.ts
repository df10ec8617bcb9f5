// Timestamp accessors (getHours, getDayOfWeek, ...) for the policy
// environment, replacing @bufbuild/cel's: those build an Intl.DateTimeFormat on
// every call with a time zone (~60 µs, on the hot path of a business-hours
// rule) and read fields through a local-time Date (wrong inside a DST gap of
// the machine's zone). Same results otherwise; the CEL conformance suite's
// timestamp tests run against this environment.
import { CelScalar, celMethod, objectType, type CelFunc } from '@bufbuild/cel';
import { TimestampSchema, type Timestamp } from '@bufbuild/protobuf/wkt';

const TIMESTAMP = objectType(TimestampSchema);
const DAY_MS = 86_400_000;
const FIXED_OFFSET = /^([+-]?)(\d\d):(\d\d)$/;
const MAX_CACHED_ZONES = 64;

interface Fields {
  year: number;
  month: number; // 0-based
  date: number; // 1-based
  hours: number;
  minutes: number;
  seconds: number;
  ms: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone);
  if (f === undefined) {
    // Throws RangeError ("Invalid time zone ...") for an unknown zone: a CEL error, the rule fails.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formats.size >= MAX_CACHED_ZONES) formats.clear();
    formats.set(zone, f);
  }
  return f;
}

function utcFields(ms: number): Fields {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth(),
    date: d.getUTCDate(),
    hours: d.getUTCHours(),
    minutes: d.getUTCMinutes(),
    seconds: d.getUTCSeconds(),
    ms: d.getUTCMilliseconds(),
  };
}

function fieldsIn(ts: Timestamp, zone: string | undefined): Fields {
  const ms = Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
  if (zone === undefined || zone === 'UTC') return utcFields(ms);
  const fixed = FIXED_OFFSET.exec(zone);
  if (fixed !== null) {
    const offset = (Number(fixed[2]) * 60 + Number(fixed[3])) * 60_000;
    return utcFields(fixed[1] === '-' ? ms - offset : ms + offset);
  }
  const out: Fields = { year: 0, month: 0, date: 1, hours: 0, minutes: 0, seconds: 0, ms: utcFields(ms).ms };
  for (const part of formatFor(zone).formatToParts(new Date(ms))) {
    const n = Number(part.value);
    switch (part.type) {
      case 'year': out.year = n; break;
      case 'month': out.month = n - 1; break;
      case 'day': out.date = n; break;
      case 'hour': out.hours = n; break;
      case 'minute': out.minutes = n; break;
      case 'second': out.seconds = n; break;
      default: break;
    }
  }
  return out;
}

const dayOfWeek = (f: Fields): number => new Date(Date.UTC(f.year, f.month, f.date)).getUTCDay();
const dayOfYear = (f: Fields): number => Math.round((Date.UTC(f.year, f.month, f.date) - Date.UTC(f.year, 0, 1)) / DAY_MS);

const ACCESSORS: readonly [string, (f: Fields) => number][] = [
  ['getFullYear', (f) => f.year],
  ['getMonth', (f) => f.month],
  ['getDate', (f) => f.date],
  ['getDayOfMonth', (f) => f.date - 1],
  ['getDayOfWeek', dayOfWeek],
  ['getDayOfYear', dayOfYear],
  ['getHours', (f) => f.hours],
  ['getMinutes', (f) => f.minutes],
  ['getSeconds', (f) => f.seconds],
  ['getMilliseconds', (f) => f.ms],
];

function messageOf(target: unknown): Timestamp {
  return (target as { message: Timestamp }).message;
}

/** Overrides of the std timestamp accessors, with and without a time zone argument. */
export const TIME_FUNCS: readonly CelFunc[] = ACCESSORS.flatMap(([name, read]) => [
  celMethod(name, TIMESTAMP, [], CelScalar.INT, function () {
    return BigInt(read(fieldsIn(messageOf(this), undefined)));
  }),
  celMethod(name, TIMESTAMP, [CelScalar.STRING], CelScalar.INT, function (zone: string) {
    return BigInt(read(fieldsIn(messageOf(this), zone)));
  }),
]);
