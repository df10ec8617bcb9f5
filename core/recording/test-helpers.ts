// Shared by the recording tests: temp dirs and a start payload.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordEvent, SessionStartData } from './events.js';
import { isRecordEvent } from './events.js';

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `agentgate-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export const START: SessionStartData = {
  identity: { sub: 'system:serviceaccount:team-a:agent', iss: 'kubernetes', groups: ['agents'] },
  pod: { namespace: 'team-a', name: 'agent-0', serviceAccount: 'agent' },
  connection: 'orders-db',
  protocol: 'postgres',
};

export async function readJsonl(path: string): Promise<RecordEvent[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const v: unknown = JSON.parse(l);
      if (!isRecordEvent(v)) throw new Error(`not an event: ${l}`);
      return v;
    });
}
