import { describe, expect, it } from '@jest/globals';
import { InvalidMaskSpecError, MaskHashKeyError } from './errors.js';
import { MAX_JSON_DEPTH } from './json-masker.js';
import { parseJsonPath } from './json-path.js';
import { compileMasking } from './masker.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');

describe('compileMasking: column rules', () => {
  const m = compileMasking({
    columns: [
      { table: 'public.customers', column: 'ssn', strategy: 'redact' },
      { table: 'customers', column: 'ssn', strategy: 'partial', keep: 4 },
      { table: 'Billing.Cards', column: 'PAN', strategy: 'hash' },
      { table: 'employees', column: 'salary', strategy: 'null' },
    ],
  }, { hashKey: KEY });

  it.each([
    ['public.customers', 'ssn', 'redact', 'qualified rule + bare rule: the strictest wins'],
    ['crm.customers', 'ssn', 'partial', 'bare rule matches any schema'],
    ['billing.cards', 'pan', 'hash', 'case-insensitive'],
    ['cards', 'pan', 'hash', 'schema unknown: matches a qualified rule for that table'],
    ['hr.employees', 'salary', 'null', 'bare rule'],
    [undefined, 'ssn', 'redact', 'table unknown: strictest rule for that column name'],
    ['public.customers', '*', 'redact', 'whole-row reference: any rule of the table'],
    ['hr.employees', '*', 'null', 'whole-row reference, bare rule'],
    [undefined, '*', 'null', 'whole row of an unknown table: any rule'],
  ] as [string | undefined, string, string, string][])('%s.%s → %s (%s)', (table, column, strategy) => {
    expect(m.columnRule(table, column)?.strategy).toBe(strategy);
  });

  it.each([
    ['public.orders', 'ssn'],
    ['other.cards', 'pan'],
    ['public.customers', 'name'],
    [undefined, 'name'],
    ['public.orders', '*'],
  ] as [string | undefined, string][])('%s.%s has no rule', (table, column) => {
    expect(m.columnRule(table, column)).toBeUndefined();
  });

  it('with column rules, the statistics catalogs that keep sample values of every column are redacted', () => {
    const statistics: Array<[string, string]> = [
      ['pg_catalog.pg_stats', 'most_common_vals'],
      ['pg_stats', 'histogram_bounds'],
      ['pg_catalog.pg_stats', 'most_common_elems'],
      ['pg_catalog.pg_stats_ext', 'most_common_vals'],
      ['pg_catalog.pg_stats_ext_exprs', 'histogram_bounds'],
      ['pg_catalog.pg_statistic', 'stavalues3'],
      ['pg_catalog.pg_statistic_ext_data', 'stxdmcv'],
    ];
    for (const [table, column] of statistics) {
      expect({ table, column, strategy: m.columnRule(table, column)?.strategy }).toEqual({ table, column, strategy: 'redact' });
    }
    expect(m.columnRule('pg_catalog.pg_stats', 'attname')).toBeUndefined();
    expect(m.columnRule('public.pg_stats', 'most_common_vals')).toBeUndefined();
    // Without column rules nothing is masked by column (detectors only).
    const detectorsOnly = compileMasking({ detectors: [{ type: 'email', strategy: 'redact' }] });
    expect(detectorsOnly.columnRule('pg_catalog.pg_stats', 'most_common_vals')).toBeUndefined();
    expect(detectorsOnly.hasColumnRules).toBe(false);
  });

  it('refuses malformed rules', () => {
    expect(() => compileMasking({ columns: [{ table: 'a.b.c', column: 'x' }] })).toThrow(InvalidMaskSpecError);
    expect(() => compileMasking({ columns: [{ table: '', column: 'x' }] })).toThrow(/table is required/);
    expect(() => compileMasking({ columns: [{ table: 't', column: 'x', strategy: 'zap' as 'null' }] })).toThrow(/unknown strategy/);
    expect(() => compileMasking({ columns: [{ table: 't', column: 'x', keep: 1.5 }] })).toThrow(/keep/);
    expect(() => compileMasking({ jsonFields: [{ path: 'user.ssn' }] })).toThrow(/must start with/);
  });

  it('needs a 16+ byte hash key only when a rule hashes', () => {
    expect(() => compileMasking({ columns: [{ table: 't', column: 'x', strategy: 'hash' }] })).toThrow(MaskHashKeyError);
    expect(() => compileMasking({ detectors: [{ type: 'email', strategy: 'hash' }] }, { hashKey: Buffer.from('short') })).toThrow(
      /at least 16 bytes/,
    );
    expect(compileMasking({ columns: [{ table: 't', column: 'x' }] }).hasColumnRules).toBe(true);
    expect(compileMasking(undefined).isEmpty).toBe(true);
  });
});

describe('maskText / maskField', () => {
  const m = compileMasking(
    {
      detectors: [
        { type: 'email', strategy: 'hash' },
        { type: 'pan', strategy: 'partial', keep: 4 },
        { type: 'ssn' },
        { type: 'jwt', strategy: 'null' },
      ],
    },
    { hashKey: KEY },
  );

  it('replaces each hit by its detector strategy', () => {
    const r = m.maskText('duplicate key (email)=(alice@example.com), card 4111 1111 1111 1111, ssn 123-45-6789');
    expect(r.masked).toBe(3);
    expect(r.text).toMatch(/^duplicate key \(email\)=\(h:[0-9a-f]{16}\), card \*\*\*\* \*\*\*\* \*\*\*\* 1111, ssn \[REDACTED:ssn\]$/);
    expect(m.maskText('alice@example.com').text).toBe(m.maskText('mail alice@example.com').text.slice(5));
  });

  it('leaves clean text alone', () => {
    const text = 'relation "customers" does not exist';
    expect(m.maskText(text)).toEqual({ text, masked: 0 });
  });

  it('null strategy: a marker in free text, NULL for a field', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    expect(m.maskText(`token ${jwt}`).text).toBe('token [REDACTED:jwt]');
    expect(m.maskField(`token ${jwt}`)).toEqual({ value: null, masked: 1 });
    expect(m.maskField('no secrets')).toEqual({ value: 'no secrets', masked: 0 });
  });
});

describe('maskJson', () => {
  const m = compileMasking(
    {
      jsonFields: [
        { path: '$.user.ssn' },
        { path: '$.items[*].card', strategy: 'partial', keep: 4 },
        { path: '$..password', strategy: 'null' },
        { path: "$['odd key'][1]", strategy: 'hash' },
        { path: '$.profile', strategy: 'redact' },
      ],
      detectors: [{ type: 'email' }, { type: 'pan' }],
    },
    { hashKey: KEY },
  );

  it('masks by path and by detectors on leaves', () => {
    const input = {
      user: { ssn: '123-45-6789', name: 'Alice', contact: 'alice@example.com' },
      items: [{ card: '4111111111111111', sku: 'A1' }, { card: '5500000000000004' }],
      deep: { a: [{ password: 'hunter2' }] },
      'odd key': ['x', 'y'],
      profile: { anything: true },
      big: 4111111111111111,
    };
    const r = m.maskJson(input);
    expect(r.value).toEqual({
      user: { ssn: '[REDACTED]', name: 'Alice', contact: '[REDACTED:email]' },
      items: [{ card: '************1111', sku: 'A1' }, { card: '************0004' }],
      deep: { a: [{ password: null }] },
      'odd key': ['x', expect.stringMatching(/^h:[0-9a-f]{16}$/)],
      profile: '[REDACTED]',
      big: 0,
    });
    expect(r.masked).toBe(8);
    expect(input.user.ssn).toBe('123-45-6789'); // pure: the input is not modified
  });

  it('copy-on-write: untouched subtrees keep their identity, a clean document is returned as is', () => {
    const clean = { a: { b: [1, 2, 3] }, note: 'nothing here' };
    expect(m.maskJson(clean).value).toBe(clean);
    const mixed = { keep: { x: 1 }, user: { ssn: '1' } };
    const out = m.maskJson(mixed).value as typeof mixed;
    expect(out).not.toBe(mixed);
    expect(out.keep).toBe(mixed.keep);
  });

  it('replaces documents nested beyond the depth limit with null (fail closed)', () => {
    let deep: unknown = 'alice@example.com';
    for (let i = 0; i < MAX_JSON_DEPTH + 5; i++) deep = [deep];
    const r = m.maskJson(deep);
    let cur: unknown = r.value;
    let depth = 0;
    while (Array.isArray(cur)) {
      cur = cur[0];
      depth++;
    }
    expect(cur).toBeNull();
    expect(depth).toBe(MAX_JSON_DEPTH);
  });
});

describe('maskJsonText', () => {
  const m = compileMasking({
    jsonFields: [{ path: '$.user.ssn' }, { path: '$.items[*].card', strategy: 'partial', keep: 4 }, { path: '$..secret', strategy: 'null' }],
    detectors: [{ type: 'email' }, { type: 'pan' }],
  });

  it('rewrites only masked values; formatting and big numbers elsewhere survive', () => {
    const text = '{ "id": 123456789012345678901234567890,\n  "user": {"ssn": "123-45-6789", "name": "Al\\"ice"},\n  "items": [ {"card": "4111111111111111"}, {"card": 5500000000000004} ],\n  "x": {"y": {"secret": [1, {"z": 2}]}}, "mail": "alice@example.com" }';
    const r = m.maskJsonText(text);
    expect(r.valid).toBe(true);
    expect(r.masked).toBe(5);
    expect(r.text).toBe(
      '{ "id": 123456789012345678901234567890,\n  "user": {"ssn": "[REDACTED]", "name": "Al\\"ice"},\n  "items": [ {"card": "************1111"}, {"card": 4} ],\n  "x": {"y": {"secret": null}}, "mail": "[REDACTED:email]" }',
    );
    expect(JSON.parse(r.text)).toBeTruthy();
  });

  it('returns the same text when nothing matches', () => {
    const text = '{"a": [1, 2, {"b": "c"}], "d": null, "e": true, "f": -1.5e3}';
    expect(m.maskJsonText(text)).toEqual({ text, masked: 0, valid: true });
  });

  it('handles escapes, empty containers and scalars at the root', () => {
    expect(m.maskJsonText('"alice@example.com"').text).toBe('"[REDACTED:email]"');
    expect(m.maskJsonText('{"k": "\\u0061lice@example.com", "e": {}, "f": []}').text).toBe('{"k": "[REDACTED:email]", "e": {}, "f": []}');
    expect(m.maskJsonText('4111111111111111').text).toBe('0');
  });

  it('custom detectors see short number leaves too', () => {
    const c = compileMasking({ detectors: [{ type: 'custom', pattern: '^42\\d{4}$' }] });
    expect(c.maskJsonText('{"emp": 421234, "n": 7}').text).toBe('{"emp": 0, "n": 7}');
    expect(c.maskJson({ emp: 421234, n: 7 }).value).toEqual({ emp: 0, n: 7 });
  });

  it('a whole-document path masks everything', () => {
    const whole = compileMasking({ jsonFields: [{ path: '$' }] });
    expect(whole.maskJsonText('{"a": 1}').text).toBe('"[REDACTED]"');
  });

  it('reports invalid JSON instead of guessing', () => {
    for (const bad of ['{"a": ', '{"a" 1}', '[1, 2', 'nope', '{"a": 1} x']) {
      expect(m.maskJsonText(bad).valid).toBe(false);
    }
  });

  it('agrees with maskJson on parsed values', () => {
    const text = '{"user": {"ssn": "1", "mail": "bob@example.org"}, "items": [{"card": "5500000000000004"}]}';
    expect(JSON.parse(m.maskJsonText(text).text)).toEqual(m.maskJson(JSON.parse(text)).value);
  });
});

describe('parseJsonPath', () => {
  it('parses the supported subset', () => {
    expect(parseJsonPath('$.a["b c"][2].*..d[*]')).toEqual([
      { kind: 'key', key: 'a' },
      { kind: 'key', key: 'b c' },
      { kind: 'index', index: 2 },
      { kind: 'any' },
      { kind: 'descend' },
      { kind: 'key', key: 'd' },
      { kind: 'any' },
    ]);
    expect(parseJsonPath('$')).toEqual([]);
  });

  it.each(['a.b', '$.', '$..', '$[', "$['x", '$[?(@.a)]', '$[1:2]', '$.a b', '$...a'])('refuses %s', (p) => {
    expect(() => parseJsonPath(p)).toThrow(InvalidMaskSpecError);
  });
});
