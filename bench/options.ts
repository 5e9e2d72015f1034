import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/duration';

export const SECTIONS = ['engine', 'e2e', 'flows', 'latency', 'eventloop', 'burst', 'scale', 'streams'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  /** 'child': API, worker and bare worker in child processes (per-process CPU); 'inprocess': all in this process. */
  mode: 'child' | 'inprocess';
  sections: Section[];
  /** Concurrency levels of the engine bound and the end-to-end runs. */
  levels: number[];
  levelSeconds: number;
  maxFlowsPerLevel: number;
  /** Section `flows`: complete add and change flows with password re-authentication, this many of each at this concurrency. */
  flowsCount: number;
  flowsConcurrency: number;
  /** Rate of the status requests against the scale run's pending changes. */
  scaleStatusRate: number;
  warmupSeconds: number;
  /** Fixed request rate of the GET endpoints (evenly spaced, an open loop). */
  latencyRate: number;
  /** Fixed arrival rate of the start and confirm flows. */
  flowRate: number;
  latencySeconds: number;
  reauthConcurrency: number;
  eventLoopSeconds: number;
  burstRate: number;
  burstSeconds: number;
  /** When the burst rate is not held: how many lower rates to try, and for how long each. */
  burstSearchSteps: number;
  burstSearchSeconds: number;
  scalePending: number;
  /** EMAIL_CHANGE_TTL of the scale run; undefined = long enough to create every change first. */
  scaleTtlMs?: number;
  scaleConcurrency: number;
  /** Section `streams` (issue #14): status streams held open on the API process, and add flows with and without one. */
  streamsCount: number;
  streamsChanges: number;
  flowTimeoutMs: number;
  logLevel: string;
  outDir: string;
  temporalAddress?: string;
  databaseUrl?: string;
  /** false (--temporal-stock): the dev server without src/dev/temporal.ts's DEV_SERVER_TUNING, for comparison. */
  temporalTuned: boolean;
  /** --temporal-cluster: the real Temporal server (npm run temporal:cluster's processes, on its own PostgreSQL) instead of the dev server. */
  temporalCluster: boolean;
  /** In-process mode: a prebuilt bundle of src/workflows. */
  workflowBundlePath?: string;
  /** Extra configuration for the API and worker. */
  serviceEnv: Record<string, string>;
  log: (line: string) => void;
}

export const DEFAULTS: Omit<BenchOptions, 'log' | 'serviceEnv'> = {
  mode: 'child',
  sections: [...SECTIONS],
  levels: [1, 10, 50],
  levelSeconds: 12,
  maxFlowsPerLevel: 5_000,
  flowsCount: 200,
  flowsConcurrency: 10,
  scaleStatusRate: 200,
  warmupSeconds: 4,
  latencyRate: 50,
  flowRate: 10,
  latencySeconds: 10,
  reauthConcurrency: 16,
  eventLoopSeconds: 10,
  burstRate: 28,
  burstSeconds: 60,
  burstSearchSteps: 3,
  burstSearchSeconds: 20,
  scalePending: 1_000,
  scaleConcurrency: 20,
  streamsCount: 1_000,
  streamsChanges: 100,
  flowTimeoutMs: 60_000,
  logLevel: 'info',
  outDir: path.resolve(__dirname, 'results'),
  temporalTuned: true,
  temporalCluster: false,
};

export const USAGE = `npm run bench -- [options]          (every option also as BENCH_<NAME>, e.g. BENCH_BURST_RATE=28)

  --sections LIST          which parts to run (default ${SECTIONS.join(',')})
  --levels LIST            concurrency levels of the engine bound and end-to-end runs (default 1,10,50)
  --level-seconds N        seconds per level (default ${DEFAULTS.levelSeconds})
  --flows-count N          section flows: complete password add and change flows, each (default ${DEFAULTS.flowsCount})
  --flows-concurrency N    their concurrency (default ${DEFAULTS.flowsConcurrency})
  --scale-status-rate N    GET /v1/email/change per second against the scale run's pending changes (default ${DEFAULTS.scaleStatusRate})
  --latency-rate N         GET requests per second for status/availability (default ${DEFAULTS.latencyRate})
  --flow-rate N            start and confirm flows per second for their latencies (default ${DEFAULTS.flowRate})
  --latency-seconds N      seconds per fixed-rate latency run (default ${DEFAULTS.latencySeconds})
  --reauth-concurrency N   parallel password re-authentications for the event-loop check (default ${DEFAULTS.reauthConcurrency})
  --burst-rate N           campaign burst: complete add-email flows per second (default ${DEFAULTS.burstRate})
  --burst-seconds N        campaign burst length (default ${DEFAULTS.burstSeconds}; the issue's full run is 600)
  --scale-pending N        changes left pending for the scale run (default ${DEFAULTS.scalePending}; try 10000, 100000)
  --scale-ttl DURATION     their EMAIL_CHANGE_TTL (default: long enough to create them all first, at least 60s)
  --scale-concurrency N    parallel starts while creating them (default ${DEFAULTS.scaleConcurrency})
  --streams N              section streams: status streams open on the API process (default ${DEFAULTS.streamsCount})
  --streams-changes N      add flows measured with and without a stream open (default ${DEFAULTS.streamsChanges})
  --log-level LEVEL        LOG_LEVEL of the API and worker (default info, as in production; logs go to /dev/null)
  --out DIR                where latest.json, latest.md and the SVG go (default bench/results)
  --in-process             run the API and worker inside the bench process (no per-process CPU)
  --temporal-stock         start the dev server with its stock settings instead of npm start's tuning
                           (DEV_SERVER_TUNING in src/dev/temporal.ts: queue poll rates, SQLite WAL), to compare
  --temporal-cluster       the real Temporal server instead of the dev server: frontend, matching, 2 history hosts
                           and worker as separate processes on their own embedded PostgreSQL (npm run temporal:cluster;
                           builds the server on first use); Temporal's CPU is theirs, that PostgreSQL's has its own column

TEMPORAL_ADDRESS and DATABASE_URL, if set, name servers on this machine to use instead of the
embedded ones; the other configuration variables (e.g. DATABASE_POOL_SIZE) are passed to the
API and worker. SMTP_URL is not used: the bench reads every mail at its own capture server.`;

const number = (name: string, text: string | undefined, fallback: number, min = 0): number => {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number ≥ ${min} (got "${text}")`);
  return n;
};

/** Flags win over BENCH_* variables, which win over the defaults. */
export function parseOptions(argv: string[], env: Record<string, string | undefined> = process.env): BenchOptions & { help: boolean } {
  const names = [
    'sections', 'levels', 'level-seconds', 'latency-rate', 'flow-rate', 'latency-seconds', 'reauth-concurrency',
    'burst-rate', 'burst-seconds', 'scale-pending', 'scale-ttl', 'scale-concurrency', 'log-level', 'out', 'flows-count', 'flows-concurrency', 'scale-status-rate',
    'streams', 'streams-changes',
  ] as const;
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])),
      'in-process': { type: 'boolean' },
      'temporal-stock': { type: 'boolean' },
      'temporal-cluster': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const get = (name: (typeof names)[number]) => ((values as Record<string, string | boolean | undefined>)[name] as string | undefined) ?? env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  const list = (text: string | undefined) => text?.split(',').map((s) => s.trim()).filter(Boolean);

  const sections = (list(get('sections')) ?? DEFAULTS.sections) as Section[];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections: unknown section "${s}" (known: ${SECTIONS.join(', ')})`);
  const levels = (list(get('levels')) ?? DEFAULTS.levels.map(String)).map((l) => number('levels', l, 1, 1));
  const ttlText = get('scale-ttl');
  const scaleTtlMs = ttlText ? parseDuration(ttlText) : undefined;
  if (ttlText && scaleTtlMs === undefined) throw new Error(`--scale-ttl: expected a duration like 90s or 10m (got "${ttlText}")`);

  return {
    ...DEFAULTS,
    help: values.help === true,
    mode: values['in-process'] || env.BENCH_IN_PROCESS === '1' ? 'inprocess' : 'child',
    sections,
    levels,
    levelSeconds: number('level-seconds', get('level-seconds'), DEFAULTS.levelSeconds, 1),
    latencyRate: number('latency-rate', get('latency-rate'), DEFAULTS.latencyRate, 1),
    flowRate: number('flow-rate', get('flow-rate'), DEFAULTS.flowRate, 0.1),
    latencySeconds: number('latency-seconds', get('latency-seconds'), DEFAULTS.latencySeconds, 1),
    reauthConcurrency: number('reauth-concurrency', get('reauth-concurrency'), DEFAULTS.reauthConcurrency, 1),
    eventLoopSeconds: number('latency-seconds', get('latency-seconds'), DEFAULTS.eventLoopSeconds, 1),
    burstRate: number('burst-rate', get('burst-rate'), DEFAULTS.burstRate, 0.1),
    burstSeconds: number('burst-seconds', get('burst-seconds'), DEFAULTS.burstSeconds, 1),
    scalePending: number('scale-pending', get('scale-pending'), DEFAULTS.scalePending, 1),
    scaleTtlMs,
    flowsCount: number('flows-count', get('flows-count'), DEFAULTS.flowsCount, 1),
    flowsConcurrency: number('flows-concurrency', get('flows-concurrency'), DEFAULTS.flowsConcurrency, 1),
    scaleStatusRate: number('scale-status-rate', get('scale-status-rate'), DEFAULTS.scaleStatusRate, 1),
    scaleConcurrency: number('scale-concurrency', get('scale-concurrency'), DEFAULTS.scaleConcurrency, 1),
    streamsCount: number('streams', get('streams'), DEFAULTS.streamsCount, 1),
    streamsChanges: number('streams-changes', get('streams-changes'), DEFAULTS.streamsChanges, 1),
    logLevel: get('log-level') ?? DEFAULTS.logLevel,
    outDir: path.resolve(get('out') ?? DEFAULTS.outDir),
    temporalTuned: !(values['temporal-stock'] || env.BENCH_TEMPORAL_STOCK === '1'),
    temporalCluster: values['temporal-cluster'] === true || env.BENCH_TEMPORAL_CLUSTER === '1',
    temporalAddress: env.TEMPORAL_ADDRESS || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    serviceEnv: {},
    log: (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`),
  };
}
