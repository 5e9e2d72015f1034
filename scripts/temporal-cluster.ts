// `npm run temporal:cluster`: the real Temporal server (frontend, matching, 2 history hosts, worker as
// separate processes) on PostgreSQL (DATABASE_URL's server, else embedded), until Ctrl-C.
// `-- --build-only`: only build (or find) the server and its SQL tool in .tools/ (CI's step before the cluster tests).
import { buildTemporalServer, startTemporalCluster } from '../src/dev/temporal-cluster';

const abort = new AbortController();

async function run(): Promise<void> {
  let firstSignalAt = 0;
  const onSignal = () => {
    // A second Ctrl-C forces (exit handlers SIGKILL what is left); one relayed by npm/tsx right after the terminal's is not a second.
    if (abort.signal.aborted) {
      if (Date.now() - firstSignalAt > 1_000) process.exit(130);
      return;
    }
    firstSignalAt = Date.now();
    abort.abort(new Error('interrupted'));
    console.error('Stopping the Temporal cluster (Ctrl-C again to force)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if (process.argv.includes('--build-only')) {
    const build = await buildTemporalServer((line) => console.error(line));
    console.log(`Temporal server: ${build.server}\ntemporal-sql-tool: ${build.sqlTool}`);
    return;
  }
  const cluster = await startTemporalCluster({
    databaseUrl: process.env.DATABASE_URL || undefined,
    log: (line) => console.error(line),
    signal: abort.signal,
  });
  console.log(`Temporal cluster ${cluster.namespace === 'default' ? '' : `(namespace ${cluster.namespace}) `}is running (Ctrl-C stops it)`);
  console.log(`  Frontend     ${cluster.address}   e.g. TEMPORAL_ADDRESS=${cluster.address} npm start`);
  console.log(`  PostgreSQL   ${cluster.databaseUrl.replace(/:[^:@/]*@/, ':***@')}`);
  for (const proc of cluster.processes) {
    console.log(`  ${proc.name.padEnd(12)} pid ${proc.pid()}  gRPC ${proc.ports.grpcPort}  membership ${proc.ports.membershipPort}  log ${proc.logFile}`);
  }
  await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  await cluster.stop();
  console.error('Stopped');
}

run().catch(async (err) => {
  // A tool killed by the same Ctrl-C fails before our handler has run: let a pending signal land first.
  await new Promise((r) => setTimeout(r, 200));
  // Interrupted during start-up: startTemporalCluster stopped what it had started and deleted its directory.
  if (abort.signal.aborted) {
    console.error('Stopped');
    process.exit(130);
  }
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
