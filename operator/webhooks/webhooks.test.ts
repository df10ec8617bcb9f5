import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import https from 'node:https';
import { pino } from 'pino';
import { issueCertificate, type KeyPairPem } from '../certs/x509.js';
import { OperatorMetrics } from '../ops/metrics.js';
import { parseReview, review, type AdmissionRequest, type AdmissionReview } from './admission.js';
import { policyValidator } from './policy-validator.js';
import { podMutator } from './pod-mutator.js';
import { WebhookServer, WEBHOOK_PATHS } from './webhook-server.js';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration } from './webhook-configurations.js';
import { ACCESS_REQUEST_WEBHOOK_PATHS } from '../approvals/access-request-admission.js';
import { defaultInjectionConfig } from '../injection/injection-config.js';
import { applyPatch, type Json, type PatchOp } from './json-patch.js';

const log = pino({ level: 'silent' });

const policyReq = (rules: Array<{ name: string; when: string; action: string }>): AdmissionRequest => ({
  uid: 'uid-1', operation: 'CREATE', namespace: 'agents', name: 'p',
  kind: { group: 'agentgate.dev', version: 'v1alpha1', kind: 'AccessPolicy' },
  resource: { group: 'agentgate.dev', version: 'v1alpha1', resource: 'accesspolicies' },
  userInfo: { username: 'admin' },
  object: {
    apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'agents' },
    spec: { podSelector: {}, subjects: [{ serviceAccount: { name: 'agent' } }], connections: ['db'], rules },
  },
});

describe('review', () => {
  it('turns an exception into allowed:false with a 500 that keeps the UID', async () => {
    const out = await review(policyReq([]), () => { throw new Error('boom'); }, log, 'test');
    expect(out.response).toEqual({ uid: 'uid-1', allowed: false, status: { code: 500, reason: 'InternalError', message: 'agentgate: internal error in test: boom' } });
  });

  it('parseReview refuses bodies that are not AdmissionReviews', () => {
    expect(() => parseReview({ kind: 'Pod' })).toThrow(/AdmissionReview/);
    expect(() => parseReview({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE', kind: {} } })).toThrow(/uid/);
  });
});

describe('policyValidator', () => {
  const v = policyValidator();
  it('allows a policy whose rules compile', async () => {
    const r = await v(policyReq([{ name: 'read', when: 'sql.statements.all(s, s.kind == "SELECT")', action: 'allow' }]));
    expect(r.allowed).toBe(true);
  });

  it('denies a policy with broken CEL, naming field, rule, error and position', async () => {
    const r = await v(policyReq([
      { name: 'ok', when: 'true', action: 'allow' },
      { name: 'typo', when: 'sql.statements.exists(s, s.kind == "DROP"', action: 'deny' },
    ]));
    expect(r.allowed).toBe(false);
    expect(r.status?.code).toBe(422);
    expect(r.status?.message).toContain('AccessPolicy agents/p is invalid (1 error)');
    expect(r.status?.message).toMatch(/spec\.rules\[1\]\.when \(rule "typo"\): .+ at line 1, column \d+/);
    expect(r.status?.message).toContain('sql.statements.exists(s, s.kind == "DROP"');
    expect(r.status?.message).toMatch(/\n\s+\^/);
  });

  it('reports every broken rule', async () => {
    const r = await v(policyReq([
      { name: 'a', when: 'nope == 1', action: 'allow' },
      { name: 'b', when: '((', action: 'deny' },
    ]));
    expect(r.status?.message).toContain('(2 errors)');
  });

  it('runs the offline CRD validation first (unknown fields, bad actions)', async () => {
    const req = policyReq([{ name: 'r', when: 'true', action: 'maybe' }]);
    const r = await v(req);
    expect(r.allowed).toBe(false);
    expect(r.status?.message).toMatch(/spec\.rules\[0\]\.action: Unsupported value: "maybe"/);
  });

  it('accepts a policy as the API server sends it (server-set metadata, status)', async () => {
    const req = policyReq([{ name: 'r', when: 'true', action: 'allow' }]);
    const obj = req.object as { metadata: Record<string, unknown>; status?: unknown };
    Object.assign(obj.metadata, {
      uid: '0b0c5a4e-3b8f-4b8e-9c55-2f3f1c1d2e3f', resourceVersion: '42', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z',
      managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'agentgate.dev/v1alpha1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
    });
    obj.status = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    expect((await v(req)).allowed).toBe(true);
  });
});

describe('podMutator', () => {
  const metrics = new OperatorMetrics({ defaultMetrics: false });
  const podReq = (dryRun = false): AdmissionRequest => ({
    uid: 'pod-uid', operation: 'CREATE', namespace: 'agents', dryRun,
    kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
    userInfo: {}, object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'a' }] } },
  });
  const ensured: string[] = [];
  const deps = (synced: boolean) => ({
    config: defaultInjectionConfig(), policies: () => [], connection: () => undefined, cachesSynced: () => synced,
    ensureCaConfigMap: async (ns: string) => { ensured.push(ns); }, metrics, log,
  });

  it('fails closed before the caches are synced', async () => {
    const r = await podMutator(deps(false))(podReq());
    expect(r).toMatchObject({ uid: 'pod-uid', allowed: false, status: { code: 500 } });
  });

  it('returns a JSON patch that injects, and publishes the CA ConfigMap', async () => {
    const r = await podMutator(deps(true))(podReq());
    expect(r.allowed).toBe(true);
    expect(r.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString()) as PatchOp[];
    const out = applyPatch(podReq().object as Json, ops) as { spec: { initContainers: Array<{ name: string }> } };
    expect(out.spec.initContainers.map((c) => c.name)).toEqual(['agentgate-sidecar']);
    expect(ensured).toEqual(['agents']);
  });

  it('does no side effect on dry runs', async () => {
    ensured.length = 0;
    await podMutator(deps(true))(podReq(true));
    expect(ensured).toEqual([]);
  });
});

describe('WebhookServer', () => {
  const now = new Date();
  const later = new Date(now.getTime() + 86_400_000);
  let ca1: KeyPairPem; let ca2: KeyPairPem; let server: WebhookServer; let port: number;

  beforeAll(async () => {
    ca1 = issueCertificate({ commonName: 'ca1', notBefore: now, notAfter: later, isCA: true });
    ca2 = issueCertificate({ commonName: 'ca2', notBefore: now, notAfter: later, isCA: true });
    const leaf = issueCertificate({ commonName: 'w', notBefore: now, notAfter: later, isCA: false, ipAddresses: ['127.0.0.1'], issuer: ca1 });
    server = new WebhookServer({
      [WEBHOOK_PATHS.validateAccessPolicies]: { name: 'accesspolicies', handler: policyValidator() },
      '/boom': { name: 'boom', handler: () => { throw new Error('bug'); } },
    }, leaf, new OperatorMetrics({ defaultMetrics: false }), log, [
      // Answers with what it was given, so the test sees method, path and query arrive untouched.
      { prefix: '/api/v9/', handle: (req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method ?? ''} ${req.url ?? ''}`); } },
      { prefix: '/throws/', handle: () => { throw new Error('prefix bug'); } },
    ]);
    port = await server.listen(0, '127.0.0.1');
  });
  afterAll(async () => { await server.close(); });

  const post = (path: string, body: unknown, ca: string, method = 'POST'): Promise<{ status: number; text: string }> => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = https.request({ host: '127.0.0.1', port, path, method, ca, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    // Node frames no body for GET/DELETE (no chunked encoding, no length): send one with POST only.
    req.end(method === 'POST' ? data : undefined);
  });
  const reviewOf = (req: AdmissionRequest): unknown => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req });

  it('answers an AdmissionReview over TLS', async () => {
    const r = await post(WEBHOOK_PATHS.validateAccessPolicies, reviewOf(policyReq([{ name: 'x', when: '((', action: 'deny' }])), ca1.certPem);
    expect(r.status).toBe(200);
    const out = JSON.parse(r.text) as AdmissionReview;
    expect(out.response.uid).toBe('uid-1');
    expect(out.response.allowed).toBe(false);
  });

  it('answers a handler exception with a well-formed 500 review', async () => {
    const r = await post('/boom', reviewOf(policyReq([])), ca1.certPem);
    const out = JSON.parse(r.text) as AdmissionReview;
    expect(out.response).toMatchObject({ uid: 'uid-1', allowed: false, status: { code: 500 } });
  });

  it('rejects junk and unknown paths with HTTP errors', async () => {
    expect((await post(WEBHOOK_PATHS.validateAccessPolicies, { hello: 1 }, ca1.certPem)).status).toBe(400);
    expect((await post('/nope', {}, ca1.certPem)).status).toBe(404);
  });

  it('hands every method under a prefix route to its handler, before the admission routes', async () => {
    expect(await post('/api/v9/things/1?watch=x', {}, ca1.certPem, 'GET')).toEqual({ status: 200, text: 'GET /api/v9/things/1?watch=x' });
    expect(await post('/api/v9/things', {}, ca1.certPem, 'DELETE')).toEqual({ status: 200, text: 'DELETE /api/v9/things' });
    // Only under the prefix: the bare prefix without its slash and other paths are not routed there.
    expect((await post('/api/v9', {}, ca1.certPem, 'GET')).status).toBe(404);
    // Admission routes still answer only POST.
    expect((await post(WEBHOOK_PATHS.validateAccessPolicies, {}, ca1.certPem, 'GET')).status).toBe(405);
  });

  it('answers a prefix handler that throws with a 500 and keeps serving', async () => {
    expect((await post('/throws/x', {}, ca1.certPem, 'GET')).status).toBe(500);
    expect((await post('/api/v9/still-here', {}, ca1.certPem, 'GET')).status).toBe(200);
  });

  it('refuses a prefix that would shadow an admission route, or that is not a folder', () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const tls = issueCertificate({ commonName: 'x', notBefore: now, notAfter: later, isCA: false, issuer: ca1 });
    expect(() => new WebhookServer({ '/mutate-pods': { name: 'p', handler: policyValidator() } }, tls, metrics, log, [{ prefix: '/mutate-', handle: () => undefined }]))
      .toThrow(/must start and end with/);
    expect(() => new WebhookServer({ '/a/b': { name: 'p', handler: policyValidator() } }, tls, metrics, log, [{ prefix: '/a/', handle: () => undefined }]))
      .toThrow('prefix route /a/ would shadow /a/b');
  });

  it('reloads its certificate without a restart', async () => {
    const leaf2 = issueCertificate({ commonName: 'w2', notBefore: now, notAfter: later, isCA: false, ipAddresses: ['127.0.0.1'], issuer: ca2 });
    await expect(post(WEBHOOK_PATHS.validateAccessPolicies, reviewOf(policyReq([])), ca2.certPem)).rejects.toThrow();
    server.reloadCertificate(leaf2);
    const r = await post(WEBHOOK_PATHS.validateAccessPolicies, reviewOf(policyReq([])), ca2.certPem);
    expect(r.status).toBe(200);
    await expect(post(WEBHOOK_PATHS.validateAccessPolicies, reviewOf(policyReq([])), ca1.certPem)).rejects.toThrow();
  });
});

describe('webhook configurations', () => {
  const ep = { mode: 'url' as const, baseUrl: 'https://127.0.0.1:9443' };

  it('stamps AccessRequest decisions with a mutating webhook on accessrequests/status only, never reinvoked', () => {
    const stamp = mutatingWebhookConfiguration(ep, 'Q0E=', ['agentgate-system']).webhooks?.find((w) => w.name === 'stamp.accessrequests.agentgate.dev');
    expect(WEBHOOK_PATHS.mutateAccessRequests).toBe(ACCESS_REQUEST_WEBHOOK_PATHS.mutate);
    expect(stamp).toMatchObject({
      clientConfig: { url: 'https://127.0.0.1:9443/mutate-accessrequests', caBundle: 'Q0E=' },
      rules: [{ operations: ['UPDATE'], apiGroups: ['agentgate.dev'], apiVersions: ['v1alpha1'], resources: ['accessrequests/status'], scope: 'Namespaced' }],
      sideEffects: 'None', failurePolicy: 'Fail', reinvocationPolicy: 'Never',
    });
    // Every namespace: AccessRequests live in the agents' namespaces, and a skipped stamp would let a client write decidedBy.
    expect(stamp?.namespaceSelector).toBeUndefined();
    expect(stamp?.objectSelector).toBeUndefined();
  });

  it('validates AccessRequests on create and on status updates', () => {
    const v = validatingWebhookConfiguration(ep, 'Q0E=').webhooks?.find((w) => w.name === 'accessrequests.agentgate.dev');
    expect(v).toMatchObject({
      clientConfig: { url: 'https://127.0.0.1:9443/validate-accessrequests' },
      rules: [{ operations: ['CREATE', 'UPDATE'], resources: ['accessrequests', 'accessrequests/status'] }],
      failurePolicy: 'Fail',
    });
  });
});
