import { parseOptions, USAGE } from './options';
import { activeStacks, runBench } from './harness';
import { writeResults } from './report';

/** `npm run bench`: starts the stack, runs every section, writes bench/results/ and prints the tables. */
async function main(): Promise<void> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const started = Date.now();
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    opts.log('interrupted: stopping everything this run started (Ctrl-C again to quit at once)');
    void Promise.allSettled([...activeStacks].map((s) => s.stop())).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results = await runBench(opts);
  const { markdown, files } = writeResults(opts.outDir, results);
  process.stdout.write(`\n${markdown}\n`);
  opts.log(`wrote ${files.join(', ')} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.exit(results.errors.length > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
