import { describe, it, expect } from '@jest/globals';
import { KubeApiError } from '../errors.js';
import { ownUsername } from './self-subject.js';

// The request is the only thing ownUsername does with the client; the real API server is in e2e/operator-services.
const client = (answer: () => Promise<unknown>, seen: unknown[] = []) => ({
  request: <T>(method: string, path: string, opts?: { body?: unknown }): Promise<T> => {
    seen.push({ method, path, body: opts?.body });
    return answer() as Promise<T>;
  },
});

describe('ownUsername', () => {
  it('asks a SelfSubjectReview and returns its username', async () => {
    const seen: unknown[] = [];
    const u = await ownUsername(client(async () => ({ status: { userInfo: { username: 'system:serviceaccount:agentgate-system:agentgate-operator' } } }), seen));
    expect(u).toBe('system:serviceaccount:agentgate-system:agentgate-operator');
    expect(seen).toEqual([{ method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }]);
  });

  it('fails with AG_OPERATOR_IDENTITY, pointing at the flag, when the API server cannot say', async () => {
    await expect(ownUsername(client(async () => { throw new KubeApiError('POST', '/apis/x', 404, 'NotFound', 'the server could not find the requested resource'); })))
      .rejects.toMatchObject({ code: 'AG_OPERATOR_IDENTITY', message: expect.stringMatching(/404 NotFound.*set --access-request-creators/) });
    await expect(ownUsername(client(async () => ({ status: {} })))).rejects.toMatchObject({ code: 'AG_OPERATOR_IDENTITY' });
  });
});
