// The listeners standalone mode can start, by protocol. SSH and HTTP are not
// here yet, so a Connection using them is refused with "not supported yet".

import type { ListenerStarters } from './listeners.js';
import { startPostgres } from './postgres-starter.js';

export const STANDALONE_STARTERS: ListenerStarters = {
  postgres: startPostgres,
};
