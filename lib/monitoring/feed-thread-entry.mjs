// Entry of the monitoring feed's thread: register tsx in this thread (hooks are per thread), then run the TypeScript
// module.
import { register } from 'tsx/esm/api';

register();
await import('./feed-thread-main.ts');
