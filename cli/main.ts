// The `cairn` command line.
import { runMain } from '../lib/process/main.js';
import { program } from './program.js';

runMain('cairn', async () => {
  await program.parseAsync(process.argv);
});
