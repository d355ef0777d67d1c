// A worker that prints "started <path>" when a job starts and then never answers (until it is
// killed): for the re-delivery tests. Takes the standard flags.
import { Worker, optionsFromArgs } from 'tempest-worker';

const w = new Worker({ ...optionsFromArgs(process.argv.slice(2), 'holds every job'), logLevel: 'error' });
w.on('url', async (req) => {
  process.stdout.write(`started ${req.path}\n`);
  await new Promise(() => {});
});
w.on('ready', () => process.stdout.write('ready\n'));
await w.run();
