/**
 * Preloaded into every server under test (`node --expose-gc --import tsx --import probe.ts`):
 * answers 'mem' on the IPC channel with process.memoryUsage() after a full GC, so the bench
 * reads both servers' memory the same way without touching their code.
 */

process.on('message', (message) => {
  if (message !== 'mem') return;
  // Two passes and a turn of the event loop: weak callbacks and finalizers freed by the
  // first collection are only reclaimed by the next one.
  gc?.();
  setTimeout(() => {
    gc?.();
    process.send?.({ type: 'mem', usage: process.memoryUsage() });
  }, 50);
});
// The channel must not keep a server alive that would otherwise exit.
process.channel?.unref();
