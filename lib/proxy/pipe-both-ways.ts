/**
 * Joins two sockets after a protocol switch (exec, attach, port-forward): bytes flow both ways with
 * backpressure, an error on either side destroys the other, and a side that ends lets the other finish
 * writing what it has before closing, so a half-close (stdin EOF) reaches the far end.
 */
import type { Duplex } from 'node:stream';

/** When `from` is done, finish writing to `to` and then close it. */
function closeAfter(from: Duplex, to: Duplex): void {
  from.once('close', () => {
    if (to.destroyed) return;
    if (to.writableFinished || !to.writable) to.destroy();
    else {
      to.end();
      to.once('finish', () => to.destroy());
    }
  });
}

export function pipeBothWays(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  closeAfter(a, b);
  closeAfter(b, a);
}
