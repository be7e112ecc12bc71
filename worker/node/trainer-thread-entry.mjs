// The trainer thread's entry: worker threads do not inherit tsx's loader from the main
// thread, so it is registered here before the TypeScript entry is imported.
import { register } from 'tsx/esm/api';

register();
await import('./trainer-thread.ts');
