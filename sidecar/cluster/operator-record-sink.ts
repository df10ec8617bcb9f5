// The shipper's RecordSink in injected mode: each batch of spooled events goes
// to the operator, which stores it idempotently and answers with the highest
// seq it holds. Any failure rejects, and the shipper retries with backoff
// (events stay in the spool until acknowledged).
import type { RecordSink, ShipBatch } from '../../core/recording/shipper.js';
import type { OperatorClient } from './operator-client.js';

export class OperatorRecordSink implements RecordSink {
  constructor(private readonly client: Pick<OperatorClient, 'shipEvents'>) {}

  async ship(batch: ShipBatch): Promise<{ ackedThrough: number }> {
    const { ackedThrough } = await this.client.shipEvents(batch.sessionId, batch.events);
    if (typeof ackedThrough !== 'number' || !Number.isSafeInteger(ackedThrough) || ackedThrough < 0) {
      throw new Error(`the operator answered an invalid ackedThrough for session ${batch.sessionId}`);
    }
    return { ackedThrough };
  }
}
