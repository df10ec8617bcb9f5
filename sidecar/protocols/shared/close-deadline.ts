// Sockets that were asked to close (end() sent) but may never finish: a peer
// that stops reading keeps a half-closed socket open. They are destroyed
// after `ms`, and the timer is cleared as soon as all of them have closed on
// their own, so it does not keep them (or what its caller's closure holds,
// such as a whole session) in memory for the full deadline. Under connection
// churn that retention added up: at 70 sessions/s, 30 s of closed sessions
// (~200 MiB) stayed reachable from timers.
import type { Socket } from 'node:net';

export function destroyUnlessClosed(sockets: readonly Socket[], ms: number): void {
  const open = sockets.filter((s) => !s.closed);
  if (open.length === 0) return;
  let waiting = open.length;
  const timer = setTimeout(() => {
    for (const s of open) s.destroy();
  }, ms);
  timer.unref();
  for (const s of open) {
    s.once('close', () => {
      if (--waiting === 0) clearTimeout(timer);
    });
  }
}
