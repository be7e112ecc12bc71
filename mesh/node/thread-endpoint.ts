/** comlink's Endpoint over a worker_threads port: Node ports emit 'message' with the data itself. */

import type { MessagePort, Worker } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

type Listener = (event: { data: unknown }) => void;

export function threadEndpoint(port: MessagePort | Worker): Endpoint {
  const wrapped = new Map<unknown, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: readonly unknown[]) => {
      port.postMessage(message, transfer as never);
    },
    addEventListener: (_type: string, listener: unknown) => {
      const fn = (data: unknown) => {
        if (typeof listener === 'function') (listener as Listener)({ data });
        else (listener as { handleEvent: Listener }).handleEvent({ data });
      };
      wrapped.set(listener, fn);
      port.on('message', fn);
    },
    removeEventListener: (_type: string, listener: unknown) => {
      const fn = wrapped.get(listener);
      if (fn === undefined) return;
      wrapped.delete(listener);
      port.off('message', fn);
    },
  } as Endpoint;
}
