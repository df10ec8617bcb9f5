// Starts the PostgreSQL listener for one Connection with its brokered credential.

import { startPostgresListener } from '../protocols/postgres/listener.js';
import type { ListenerStarter } from './listeners.js';

export const startPostgres: ListenerStarter = async (c, facts, gate, ctx) => {
  const cred = c.credential;
  if (!cred || cred.username === undefined || cred.password === undefined) {
    throw new Error(
      'the postgres listener needs credentials.secretRef with a username and password (just-in-time roles are not supported in standalone mode yet)',
    );
  }
  return startPostgresListener({
    connection: facts,
    backend: {
      host: c.spec.target.host ?? '',
      port: c.spec.target.port ?? 5432,
      database: c.spec.target.database ?? cred.username,
      user: cred.username,
      password: cred.password,
      tls: { mode: c.tls.mode, ca: c.tls.caPem, serverName: c.tls.serverName },
    },
    gate,
    listenHost: '127.0.0.1',
    listenPort: c.listenPort,
    clientAuth: ctx.clientAuth,
    log: ctx.logger.child({ protocol: 'postgres' }),
  });
};
