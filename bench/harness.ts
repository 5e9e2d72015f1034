import os from 'node:os';
import v8 from 'node:v8';
import { DEFAULTS, type BenchOptions, type Section } from './options';
import { startStack, type Stack } from './lib/stack';
import type { Service } from './lib/services';
import { treeCpuMs } from './lib/proc';
import { UserFactory, BENCH_PASSWORD, type BenchUser } from './lib/users';
import { BareMailbox, bareFlow, changeFlow, confirmUntilApproved, e2eFlow, minimalFlow, startAndAwaitMail, type E2EContext, type FlowTiming, type ReauthMethod } from './lib/flows';
import { closedLoop, openLoop, type LoopResult, type OpenLoopResult } from './lib/loops';
import { fixedRateGet, type EndpointLatency } from './lib/load';
import { request, HttpError } from './lib/http';
import { sleep, summarize, type LatencySummary } from './lib/stats';
import type { ProbeStats } from './lib/eld';
import { workflowIdFor } from '../src/workflows/messages';
import { DEV_SERVER_TUNING } from '../src/dev/temporal';
import { temporal as proto } from '@temporalio/proto';
import { codecCost, type CodecCost, type RunSample } from './codec-cost';
import { parsePayloadKeys, type PayloadKey } from '../src/codec/payload-keys';
import { BENCH_PAYLOAD_KEYS } from './lib/stack';
import { streamsSection, type StreamsResult } from './streams';


type ProcName = 'api' | 'worker' | 'bareWorker' | 'temporal' | 'temporalStore' | 'postgres' | 'bench';
export type CpuPerChange = Partial<Record<ProcName, number | null>>;

export interface LevelResult extends LoopResult {
  cpuMsPerFlow: CpuPerChange;
}
export interface E2ELevelResult extends LevelResult {
  /** End-to-end changes per second divided by the engine bound's flows per second at this concurrency. */
  ratioToEngine: number | null;
  /** The same, divided by the minimal shape's (start, Update, timer, completion). */
  ratioToMinimal?: number | null;
  /** The same, divided by the minimal shape's with the mail as a regular activity (the floor for an add). */
  ratioToMailFloor?: number | null;
  ratioToAddShape?: number | null;
}

/** Section `flows`: complete flows with password re-authentication; history bytes as Temporal stores them (encrypted). */
export interface FlowsResult {
  kind: 'add' | 'change';
  run: LevelResult;
  history: { sampled: number; eventsPerChange: number; bytesPerChange: number };
}

export interface BurstRun extends OpenLoopResult {
  cpuMsPerChange: CpuPerChange;
}

export interface BenchResults {
  version: 1;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: { cpuModel: string; cores: number; memoryGiB: number; node: string; os: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  options: Omit<BenchOptions, 'log' | 'serviceEnv' | 'workflowBundlePath' | 'databaseUrl'> & { serviceEnv: string[] };
  stack: {
    mode: 'child' | 'inprocess';
    temporal: string;
    postgres: string;
    smtp: string;
    settings: Record<string, string | number>;
    notes: string[];
  };
  engine?: LevelResult[];
  /** The cheapest shape with the guarantees (start, one Update, durable timer, completion), per level. */
  engineMinimal?: LevelResult[];
  /** The engine minimum plus the mail as a regular activity the run hears of: the floor for an add under issue #12's rules. */
  engineMailFloor?: LevelResult[];
  engineAddShape?: LevelResult[];
  e2e?: E2ELevelResult[];
  flows?: FlowsResult[];
  codec?: CodecCost;
  latency?: { endpoints: EndpointLatency[]; apiEventLoop?: ProbeStats['eld'] };
  eventLoop?: {
    reauthConcurrency: number;
    reauthPerSec: number;
    reauthLatency: LatencySummary;
    reauthErrors: number;
    baseline: { status: EndpointLatency; apiEventLoop: ProbeStats['eld'] | null };
    underReauth: { status: EndpointLatency; apiEventLoop: ProbeStats['eld'] | null };
  };
  burst?: { target: BurstRun; search: BurstRun[]; highestRateHeld: number | null; note: string };
  scale?: {
    pending: number;
    ttlSeconds: number;
    creation: { seconds: number; perSec: number; failed: number; mailsSent: number; errors: string[] };
    workerRssBytes: { before: number | null; after: number | null; afterExpiry: number | null };
    workerHeapUsedBytes: { before: number | null; after: number | null };
    temporalBytes: { before: number | null; after: number | null; perPending: number | null; file?: string };
    postgresBytes: { before: number; after: number; perPending: number };
    status: EndpointLatency;
    expiry: { expired: number; otherStates: Record<string, number>; onTime: boolean; lateness: LatencySummary; waitedSeconds: number };
  };
  /** Issue #14: status streams open on one API process. */
  streams?: StreamsResult;
  errors: { section: Section; message: string }[];
}

/** Stacks of runs in progress, so an interrupted `npm run bench` can stop what it started. */
export const activeStacks = new Set<Stack>();

/** Runs the benchmark (all of it by default; the smoke test runs a tiny part) and returns the results. */
export async function runBench(partial: Partial<BenchOptions> = {}): Promise<BenchResults> {
  const opts: BenchOptions = { ...DEFAULTS, serviceEnv: {}, log: () => undefined, ...partial };
  const say = opts.log;
  const began = Date.now();
  const run = (s: Section) => opts.sections.includes(s);
  const results: BenchResults = {
    version: 1,
    startedAt: new Date(began).toISOString(),
    finishedAt: '',
    durationSeconds: 0,
    machine: machineInfo(),
    options: {
      ...Object.fromEntries(Object.entries(opts).filter(([k]) => !['log', 'serviceEnv', 'workflowBundlePath', 'databaseUrl'].includes(k))),
      serviceEnv: Object.keys(opts.serviceEnv),
    } as BenchResults['options'],
    stack: { mode: opts.mode, temporal: '', postgres: '', smtp: '', settings: {}, notes: [] },
    errors: [],
  };

  const stack = await startStack({
    mode: opts.mode,
    temporalAddress: opts.temporalAddress,
    databaseUrl: opts.databaseUrl,
    workflowBundlePath: opts.workflowBundlePath,
    temporalTuned: opts.temporalTuned,
    temporalCluster: opts.temporalCluster,
    logLevel: opts.logLevel,
    serviceEnv: opts.serviceEnv,
    log: say,
  });
  activeStacks.add(stack);
  try {
    describeStack(stack, opts, results);
    const users = new UserFactory(stack.pool);
    const ctx: E2EContext = { baseUrl: stack.apiBaseUrl, smtp: stack.smtp, timeoutMs: opts.flowTimeoutMs };
    const guard = async (section: Section, work: () => Promise<void>) => {
      if (!run(section)) return;
      try {
        await work();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        say(`${section} failed: ${message}`);
        results.errors.push({ section, message });
      }
    };

    if (run('engine') || run('e2e')) {
      await guard(run('engine') ? 'engine' : 'e2e', () => levels(stack, opts, users, ctx, results));
    }
    await guard('flows', () => flows(stack, opts, users, ctx, results));
    await guard('latency', () => latency(stack, opts, users, ctx, results, run('eventloop')));
    await guard('eventloop', () => eventLoop(stack, opts, users, ctx, results));
    await guard('burst', () => burst(stack, opts, users, ctx, results));
    await guard('scale', () => scale(stack, opts, users, results));
    await guard('streams', async () => void (results.streams = await streamsSection(stack, opts, users, ctx)));
  } finally {
    say('stopping the stack');
    activeStacks.delete(stack);
    await stack.stop();
  }
  results.finishedAt = new Date().toISOString();
  results.durationSeconds = Math.round((Date.now() - began) / 100) / 10;
  results.machine.loadAverageAtEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  return results;
}

function machineInfo(): BenchResults['machine'] {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    loadAverageAtEnd: [],
  };
}

function describeStack(stack: Stack, opts: BenchOptions, results: BenchResults) {
  const heapMiB = v8.getHeapStatistics().heap_size_limit / 2 ** 20;
  results.stack.temporal = stack.embedded.temporal
    ? `embedded dev server (temporal server start-dev, ${stack.embedded.temporalCli}), SQLite file in a temp dir, ${opts.temporalTuned ? `started exactly as npm start does (src/dev/temporal.ts, tuned: ${DEV_SERVER_TUNING.filter((a) => !a.startsWith('--')).join(', ')})` : 'stock settings (--temporal-stock; npm start tunes it)'}`
    : stack.cluster
      ? `server built from source (--temporal-cluster, as npm run temporal:cluster: ${stack.cluster.processes.join(', ')} as separate processes on their own embedded PostgreSQL; the cluster tests' dynamic config plus eager activities, as the dev server runs them); Temporal's CPU is those processes', its PostgreSQL's is shown apart`
      : `TEMPORAL_ADDRESS=${stack.temporalAddress}`;
  results.stack.postgres = stack.embedded.postgres ? 'embedded PostgreSQL (synchronous_commit=off, as npm start)' : 'DATABASE_URL (local)';
  results.stack.smtp = 'the bench\'s SMTP capture server (src/dev/smtp-capture.ts) on 127.0.0.1';
  results.stack.settings = {
    'API, worker processes': stack.mode === 'child' ? 'one each: node --import tsx src/api/server.ts | src/worker.ts' : 'inside the bench process',
    DATABASE_POOL_SIZE: opts.serviceEnv.DATABASE_POOL_SIZE ?? process.env.DATABASE_POOL_SIZE ?? 10,
    LOG_LEVEL: opts.logLevel,
    'worker maxConcurrentWorkflowTaskExecutions (SDK default)': 40,
    'worker maxConcurrentActivityTaskExecutions (SDK default)': 100,
    'worker maxCachedWorkflows (SDK default for this heap)': Math.max(Math.floor((Math.max(heapMiB - 200, 0) * 600) / 1024), 10),
    'worker task pollers (SDK default)': '10 workflow, 10 activity',
    UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '4 (default; argon2 runs there)',
  };
  results.stack.notes.push(
    'Users, their sessions and their devices are written straight to PostgreSQL (sign-up, sign-in and device registration are not measured); each has a real argon2id password hash and a registered P-256 device key, so every start re-authenticates for real.',
    'Complete flows (sections 1–2 and 5) start with a biometric proof: POST /v1/auth/challenges, sign the challenge, POST /v1/email/change; its time includes the challenge request.',
    'Every load stays on 127.0.0.1; every loop is bounded in count and time.',
  );
  if (process.env.SMTP_URL) results.stack.notes.push('SMTP_URL is ignored: the bench must read each mail at its own capture server.');
}

// ── CPU accounting ─────────────────────────────────────────────────────────────────────────────

type CpuSnapshot = Partial<Record<ProcName, number>>;

function cpuSnapshot(stack: Stack, bare?: Service): CpuSnapshot {
  const own = process.cpuUsage();
  const shared = stack.mode === 'inprocess';
  return {
    api: shared ? undefined : stack.api.cpuMs(),
    worker: shared ? undefined : stack.worker.cpuMs(),
    bareWorker: bare && !bare.inProcess ? bare.cpuMs() : undefined,
    temporal: stack.temporalCpuMs(),
    temporalStore: stack.temporalStoreCpuMs(),
    postgres: stack.postgresPid ? treeCpuMs(stack.postgresPid) : undefined,
    bench: (own.user + own.system) / 1000,
  };
}

function cpuPer(before: CpuSnapshot, after: CpuSnapshot, count: number): CpuPerChange {
  const out: CpuPerChange = {};
  for (const name of Object.keys(after) as ProcName[]) {
    const a = after[name];
    const b = before[name];
    out[name] = a === undefined || b === undefined || count === 0 ? null : Math.round(((a - b) / count) * 10) / 10;
  }
  return out;
}

// ── 1 + 2: engine bound and end to end, level by level ─────────────────────────────────────────

async function levels(stack: Stack, opts: BenchOptions, users: UserFactory, ctx: E2EContext, results: BenchResults) {
  const withEngine = opts.sections.includes('engine');
  const withE2E = opts.sections.includes('e2e');
  const mailbox = new BareMailbox();
  let bare: Service | undefined;
  if (withEngine) {
    opts.log('starting the bare (engine-bound) worker');
    bare = await stack.startBareWorker(mailbox.deliver);
  }
  const bareOne = () => bareFlow(stack.client, stack.bareTaskQueue, mailbox, opts.flowTimeoutMs);
  const minimalOne = () => minimalFlow(stack.client, stack.bareTaskQueue);
  const mailFloorOne = () => bareFlow(stack.client, stack.bareTaskQueue, mailbox, opts.flowTimeoutMs, 'mailFloorEmailChange');
  const addShapeOne = () => bareFlow(stack.client, stack.bareTaskQueue, mailbox, opts.flowTimeoutMs, 'addShapeEmailChange');
  const e2eWith = (pool: BenchUser[]) => (i: number) => {
    const user = pool[i];
    if (!user) return Promise.reject(new Error('out of seeded users'));
    return e2eFlow(ctx, user, users.email(user));
  };

  // Warm-up (not measured): JIT, workflow bundles, connection pools, sticky caches.
  if (opts.warmupSeconds > 0) {
    opts.log(`warm-up ${opts.warmupSeconds}s`);
    if (withEngine) await closedLoop({ concurrency: 5, seconds: opts.warmupSeconds, maxFlows: 500, flow: bareOne });
    if (withEngine) await closedLoop({ concurrency: 5, seconds: opts.warmupSeconds / 2, maxFlows: 500, flow: minimalOne });
    if (withEngine) await closedLoop({ concurrency: 5, seconds: opts.warmupSeconds / 2, maxFlows: 500, flow: mailFloorOne });
    if (withEngine) await closedLoop({ concurrency: 5, seconds: opts.warmupSeconds / 2, maxFlows: 500, flow: addShapeOne });
    if (withE2E) {
      const pool = await users.create(300);
      await closedLoop({ concurrency: 5, seconds: opts.warmupSeconds, maxFlows: pool.length, flow: e2eWith(pool) });
    }
  }

  results.engine = withEngine ? [] : undefined;
  results.engineMinimal = withEngine ? [] : undefined;
  results.engineMailFloor = withEngine ? [] : undefined;
  results.engineAddShape = withEngine ? [] : undefined;
  results.e2e = withE2E ? [] : undefined;
  /** One engine shape at one level: its rate, and CPU per flow of the bare worker, Temporal and PostgreSQL. */
  const engineLevel = async (label: string, concurrency: number, flow: () => Promise<FlowTiming>, into: LevelResult[]) => {
    opts.log(`${label}: concurrency ${concurrency} for ${opts.levelSeconds}s`);
    const before = cpuSnapshot(stack, bare);
    const r = await closedLoop({ concurrency, seconds: opts.levelSeconds, maxFlows: opts.maxFlowsPerLevel, flow });
    const per = cpuPer(before, cpuSnapshot(stack, bare), r.completed);
    delete per.api;
    delete per.worker;
    into.push({ ...r, cpuMsPerFlow: per });
    opts.log(`  ${r.perSec}/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms${r.failed ? `, ${r.failed} failed: ${r.errors[0]}` : ''}`);
    return r.perSec;
  };
  for (const concurrency of opts.levels) {
    let engineRate: number | undefined;
    let minimalRate: number | undefined;
    let mailFloorRate: number | undefined;
    let addShapeRate: number | undefined;
    if (withEngine) {
      minimalRate = await engineLevel('engine minimum (start, Update, timer, completion)', concurrency, minimalOne, results.engineMinimal!);
      mailFloorRate = await engineLevel('engine minimum with the mail activity', concurrency, mailFloorOne, results.engineMailFloor!);
      addShapeRate = await engineLevel("the add's shape, no-op bodies", concurrency, addShapeOne, results.engineAddShape!);
      engineRate = await engineLevel('engine bound', concurrency, bareOne, results.engine!);
    }
    if (withE2E) {
      const budget = Math.min(opts.maxFlowsPerLevel, Math.ceil(opts.levelSeconds * Math.min(concurrency * 40, 200)));
      const pool = await users.create(budget);
      opts.log(`end to end: concurrency ${concurrency} for ${opts.levelSeconds}s`);
      const before = cpuSnapshot(stack);
      const r = await closedLoop({ concurrency, seconds: opts.levelSeconds, maxFlows: pool.length, flow: e2eWith(pool) });
      const per = cpuPer(before, cpuSnapshot(stack), r.completed);
      delete per.bareWorker;
      const ratio = engineRate ? Math.round((r.perSec / engineRate) * 1000) / 1000 : null;
      const ratioToMinimal = minimalRate ? Math.round((r.perSec / minimalRate) * 1000) / 1000 : null;
      const ratioToMailFloor = mailFloorRate ? Math.round((r.perSec / mailFloorRate) * 1000) / 1000 : null;
      const ratioToAddShape = addShapeRate ? Math.round((r.perSec / addShapeRate) * 1000) / 1000 : null;
      results.e2e!.push({ ...r, cpuMsPerFlow: per, ratioToEngine: ratio, ratioToMinimal, ratioToMailFloor, ratioToAddShape });
      opts.log(`  ${r.perSec}/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms${ratio !== null ? `, ${ratio} of the engine bound` : ''}${r.failed ? `, ${r.failed} failed: ${r.errors[0]}` : ''}`);
    }
  }
  if (bare) {
    opts.log('stopping the bare worker');
    await bare.stop();
  }
}

// ── 2b: complete add and change flows with password re-authentication; history size; codec cost ─────

async function flows(stack: Stack, opts: BenchOptions, users: UserFactory, ctx: E2EContext, results: BenchResults) {
  results.flows = [];
  const codecRuns: RunSample[] = [];
  for (const kind of ['add', 'change'] as const) {
    const pool = await users.create(opts.flowsCount, { verifiedEmail: kind === 'change' });
    opts.log(`flows: ${opts.flowsCount} complete ${kind} flows (password) at concurrency ${opts.flowsConcurrency}`);
    const before = cpuSnapshot(stack);
    const r = await closedLoop({
      concurrency: opts.flowsConcurrency,
      seconds: 600,
      maxFlows: pool.length,
      flow: (i) => (kind === 'add' ? e2eFlow(ctx, pool[i]!, users.email(pool[i]!), 'password') : changeFlow(ctx, pool[i]!, users.email(pool[i]!), 'password')),
    });
    const per = cpuPer(before, cpuSnapshot(stack), r.completed);
    delete per.bareWorker;
    const sampled: RunSample = { kind, histories: [] };
    const history = await historySizes(stack, pool.slice(0, 20), sampled.histories);
    codecRuns.push(sampled);
    results.flows.push({ kind, run: { ...r, cpuMsPerFlow: per }, history });
    opts.log(`  ${r.perSec}/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms; history ${history.eventsPerChange} events, ${history.bytesPerChange} B${r.failed ? `, ${r.failed} failed: ${r.errors[0]}` : ''}`);
  }
  // The codec's cost per change, from these very runs' histories (encrypted with the services' PAYLOAD_KEYS).
  const keys = parsePayloadKeys(opts.serviceEnv.PAYLOAD_KEYS ?? BENCH_PAYLOAD_KEYS) as PayloadKey[];
  results.codec = await codecCost(undefined, { runs: codecRuns, keys });
}

/**
 * Events and bytes of history per run as Temporal stores them (payloads encrypted by the codec), over
 * a sample; each history read is also pushed to `keep` (for the codec's cost per change).
 */
async function historySizes(stack: Stack, sample: BenchUser[], keep?: RunSample['histories']) {
  let events = 0;
  let bytes = 0;
  let n = 0;
  let firstError: unknown;
  for (const user of sample) {
    try {
      const handle = stack.client.workflow.getHandle(workflowIdFor(user.id));
      // APPROVED shows in PostgreSQL a moment before the run's last task completes; an approved change stays
      // open for its undo window (REVERT_WINDOW), so wait briefly for the close, then take the history so far.
      // (raw describe: this client has no codec, and the run's memo is encrypted)
      const running = async () =>
        (await stack.client.workflowService.describeWorkflowExecution({ namespace: stack.client.options.namespace, execution: { workflowId: handle.workflowId } })).workflowExecutionInfo?.status ===
        proto.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;
      for (let i = 0; i < 20 && (await running()); i++) await new Promise((r) => setTimeout(r, 50));
      const history = await handle.fetchHistory();
      keep?.push(history);
      events += history.events?.length ?? 0;
      bytes += proto.api.history.v1.History.encode(history as proto.api.history.v1.IHistory).finish().length;
      n++;
    } catch (err) {
      // a run that did not complete in the loop: left out of the sample
      firstError ??= err;
    }
  }
  if (n === 0 && firstError) throw new Error(`history sample: no run could be read (${String(firstError)})`);
  return { sampled: n, eventsPerChange: n ? Math.round(events / n) : 0, bytesPerChange: n ? Math.round(bytes / n) : 0 };
}

// ── 3: latency per endpoint at fixed rates ────────────────────────────────────────────────────

/** Starts a change for each user (closed loop) and waits for its mail; returns each user's link token. */
async function startAll(ctx: E2EContext, users: BenchUser[], emailOf: (u: BenchUser) => string, concurrency: number): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  await closedLoop({
    concurrency,
    seconds: 3_600,
    maxFlows: users.length,
    flow: async (i) => {
      const started = await startAndAwaitMail(ctx, users[i]!, emailOf(users[i]!));
      tokens.set(users[i]!.id, started.token);
      return { total: started.startToMailMs, steps: {} };
    },
  });
  return tokens;
}

async function latency(stack: Stack, opts: BenchOptions, users: UserFactory, ctx: E2EContext, results: BenchResults, keepForEventLoop: boolean): Promise<void> {
  const endpoints: EndpointLatency[] = [];
  const base = stack.apiBaseUrl;
  const rate = opts.latencyRate;
  const seconds = opts.latencySeconds;

  // Availability is limited to 30 a minute per user: spread the requests over enough users.
  const idle = await users.create(Math.ceil((rate * seconds) / 20) + 1);
  opts.log(`latency: GET /v1/email/availability at ${rate}/s for ${seconds}s (open loop)`);
  endpoints.push(
    await fixedRateGet({
      name: 'availability',
      baseUrl: base,
      pathLabel: '/v1/email/availability?email=',
      path: (i) => `/v1/email/availability?email=${encodeURIComponent(`free.${i}.${users.tag}@bench.example.com`)}`,
      token: (i) => idle[i % idle.length]!.token,
      rate,
      seconds,
    }),
  );
  opts.log(`latency: GET /v1/email/change with no change at ${rate}/s for ${seconds}s (open loop)`);
  endpoints.push(
    await fixedRateGet({
      name: 'status (no change: PostgreSQL only)',
      baseUrl: base,
      pathLabel: '/v1/email/change',
      path: () => '/v1/email/change',
      token: (i) => idle[i % idle.length]!.token,
      rate,
      seconds,
    }),
  );

  // Start (password, then biometric) and start → mail, at a fixed arrival rate; these changes stay pending for now.
  const flowUsers = await users.create(2 * Math.ceil(opts.flowRate * seconds));
  const tokens = new Map<string, string>();
  const startLoop = (method: ReauthMethod, offset: number) => {
    opts.log(`latency: POST /v1/email/change (${method}) at ${opts.flowRate}/s for ${seconds}s, each until its mail arrives`);
    return openLoop({
      rate: opts.flowRate,
      seconds,
      maxInFlight: 1_000,
      windowSeconds: seconds,
      drainSeconds: opts.flowTimeoutMs / 1000,
      flow: async (i) => {
        const user = flowUsers[offset + i]!;
        const started = await startAndAwaitMail(ctx, user, users.email(user), method);
        tokens.set(user.id, started.token);
        return { total: started.startToMailMs, steps: { start: started.startMs, startToMail: started.startToMailMs } };
      },
    });
  };
  const starts = await startLoop('password', 0);
  const biometricStarts = await startLoop('biometric', Math.ceil(opts.flowRate * seconds));
  const fromLoop = (name: string, method: string, pathLabel: string, s: LatencySummary | undefined, r: OpenLoopResult, note?: string): EndpointLatency => ({
    name,
    method,
    path: pathLabel,
    tool: 'bench loop',
    ratePerSec: r.targetRate,
    seconds: r.seconds,
    ...(s ?? summarize([])),
    errors: r.failed + r.dropped + r.unfinished,
    ...(note ? { note } : {}),
  });
  endpoints.push(fromLoop('start (password)', 'POST', '/v1/email/change', starts.steps.start, starts, 'argon2id re-authentication + PostgreSQL + Temporal start'));
  endpoints.push(
    fromLoop('start (biometric)', 'POST+POST', '/v1/auth/challenges → /v1/email/change', biometricStarts.steps.start, biometricStarts, 'challenge + ECDSA P-256 verification + PostgreSQL + Temporal start'),
  );

  const pending = flowUsers.filter((u) => tokens.has(u.id));
  if (pending.length === 0) throw new Error(`no change could be started: ${starts.errors.join('; ')}`);
  opts.log(`latency: GET /v1/email/change with a pending change at ${rate}/s for ${seconds}s (open loop)`);
  await stack.api.resetEventLoopDelay();
  const statusPending = await fixedRateGet({
    name: 'status (pending: PostgreSQL projection)',
    baseUrl: base,
    pathLabel: '/v1/email/change',
    path: () => '/v1/email/change',
    token: (i) => pending[i % pending.length]!.token,
    rate,
    seconds,
  });
  const apiEld = (await stack.api.stats())?.eld;
  endpoints.push(statusPending);
  if (keepForEventLoop) {
    results.eventLoop = {
      reauthConcurrency: opts.reauthConcurrency,
      reauthPerSec: 0,
      reauthLatency: summarize([]),
      reauthErrors: 0,
      baseline: { status: statusPending, apiEventLoop: stack.mode === 'child' ? (apiEld ?? null) : null },
      underReauth: { status: statusPending, apiEventLoop: null },
    };
    await eventLoopUnderReauth(stack, opts, users, results, pending);
  }

  opts.log(`latency: POST /v1/email/verify → APPROVED in GET /v1/email/change at ${opts.flowRate}/s`);
  const confirms = await openLoop({
    rate: opts.flowRate,
    seconds: pending.length / opts.flowRate,
    maxInFlight: 1_000,
    windowSeconds: seconds,
    drainSeconds: opts.flowTimeoutMs / 1000,
    flow: async (i) => {
      const user = pending[i]!;
      const ms = await confirmUntilApproved(ctx, user, tokens.get(user.id)!);
      return { total: ms, steps: { confirmToApproved: ms } };
    },
  });
  endpoints.push(fromLoop('confirm → APPROVED visible', 'POST+GET', '/v1/email/verify → /v1/email/change', confirms.latency, confirms));
  endpoints.push(fromLoop('start → mail in inbox', 'POST→SMTP', '/v1/email/change (password) → capture server', starts.steps.startToMail, starts));
  results.latency = { endpoints, apiEventLoop: apiEld };
}

// ── 4: event-loop health while password re-authentication runs at capacity ──────────────────────

async function eventLoop(stack: Stack, opts: BenchOptions, users: UserFactory, ctx: E2EContext, results: BenchResults) {
  if (results.eventLoop) return; // measured inside the latency section, on its pending changes
  const pendingUsers = await users.create(Math.min(200, Math.ceil(opts.flowRate * opts.latencySeconds)));
  opts.log(`event loop: starting ${pendingUsers.length} pending changes`);
  await startAll(ctx, pendingUsers, (u) => users.email(u), 10);
  await stack.api.resetEventLoopDelay();
  const baseline = await fixedRateGet({
    name: 'status (pending: PostgreSQL projection)',
    baseUrl: stack.apiBaseUrl,
    pathLabel: '/v1/email/change',
    path: () => '/v1/email/change',
    token: (i) => pendingUsers[i % pendingUsers.length]!.token,
    rate: opts.latencyRate,
    seconds: opts.eventLoopSeconds,
  });
  const eld = (await stack.api.stats())?.eld ?? null;
  results.eventLoop = {
    reauthConcurrency: opts.reauthConcurrency,
    reauthPerSec: 0,
    reauthLatency: summarize([]),
    reauthErrors: 0,
    baseline: { status: baseline, apiEventLoop: stack.mode === 'child' ? eld : null },
    underReauth: { status: baseline, apiEventLoop: null },
  };
  await eventLoopUnderReauth(stack, opts, users, results, pendingUsers);
}

/**
 * Password re-authentication at capacity: `reauthConcurrency` users keep asking to "change" to
 * their own verified address, which runs the full argon2id re-authentication and then answers
 * 409 SAME_EMAIL without starting a workflow. Meanwhile status is measured at its fixed rate.
 */
async function eventLoopUnderReauth(stack: Stack, opts: BenchOptions, users: UserFactory, results: BenchResults, pending: BenchUser[]) {
  const el = results.eventLoop!;
  const reauthUsers = await users.create(opts.reauthConcurrency, { verifiedEmail: true });
  opts.log(`event loop: status at ${opts.latencyRate}/s while ${opts.reauthConcurrency} password re-authentications run back to back`);
  const samples: number[] = [];
  let errors = 0;
  let stop = false;
  const hardStop = Date.now() + (opts.eventLoopSeconds + 30) * 1000;
  const lane = async (user: BenchUser) => {
    while (!stop && Date.now() < hardStop) {
      const res = await request(stack.apiBaseUrl, 'POST', '/v1/email/change', {
        token: user.token,
        json: { email: user.email, auth: { method: 'password', password: BENCH_PASSWORD } },
      }).catch(() => undefined);
      if (res?.status === 409 && res.body?.error?.code === 'SAME_EMAIL') samples.push(res.ms);
      else errors++;
    }
  };
  const lanes = reauthUsers.map(lane);
  await sleep(1_000); // reach capacity first
  await stack.api.resetEventLoopDelay();
  const countBefore = samples.length;
  const t0 = performance.now();
  const status = await fixedRateGet({
    name: 'status (pending) under re-auth load',
    baseUrl: stack.apiBaseUrl,
    pathLabel: '/v1/email/change',
    path: () => '/v1/email/change',
    token: (i) => pending[i % pending.length]!.token,
    rate: opts.latencyRate,
    seconds: opts.eventLoopSeconds,
  });
  const elapsed = (performance.now() - t0) / 1000;
  const during = samples.length - countBefore;
  const eld = (await stack.api.stats())?.eld ?? null;
  stop = true;
  await Promise.all(lanes);
  el.reauthPerSec = Math.round((during / elapsed) * 10) / 10;
  el.reauthLatency = summarize(samples.slice(countBefore));
  el.reauthErrors = errors;
  el.underReauth = { status, apiEventLoop: stack.mode === 'child' ? eld : null };
  opts.log(`  ${el.reauthPerSec} re-auth/s; status p99 ${el.baseline.status.p99} → ${status.p99} ms; API event-loop delay p99 ${el.baseline.apiEventLoop?.p99Ms ?? '-'} → ${eld?.p99Ms ?? '-'} ms`);
}

// ── 5: campaign burst ─────────────────────────────────────────────────────────────────────────

async function burst(stack: Stack, opts: BenchOptions, users: UserFactory, ctx: E2EContext, results: BenchResults) {
  const runAt = async (rate: number, seconds: number): Promise<BurstRun> => {
    const pool = await users.create(Math.ceil(rate * seconds));
    opts.log(`campaign burst: ${rate} complete add-email flows/s arriving for ${seconds}s (open loop)`);
    const before = cpuSnapshot(stack);
    const r = await openLoop({
      rate,
      seconds,
      maxInFlight: 5_000,
      windowSeconds: 10,
      drainSeconds: Math.max(30, opts.flowTimeoutMs / 1000),
      flow: (i) => e2eFlow(ctx, pool[i]!, users.email(pool[i]!)),
    });
    const per = cpuPer(before, cpuSnapshot(stack), r.completed);
    delete per.bareWorker;
    opts.log(`  achieved ${r.achievedRate}/s, held: ${r.held}, p99 ${r.latency.p99} ms, max backlog ${r.maxBacklog}${r.failed ? `, ${r.failed} failed: ${r.errors[0]}` : ''}`);
    if (!r.held) await endLeftovers(pool);
    return { ...r, cpuMsPerChange: per };
  };
  // An overloaded run leaves changes whose mail is still queued: end them, so the next rate starts on an idle system.
  const endLeftovers = async (pool: BenchUser[]) => {
    const t0 = performance.now();
    let ended = 0;
    for (let i = 0; i < pool.length; i += 50) {
      const batch = pool.slice(i, i + 50).map((u) => stack.client.workflow.getHandle(workflowIdFor(u.id)).terminate('bench: leftover of an overloaded burst run'));
      ended += (await Promise.allSettled(batch)).filter((x) => x.status === 'fulfilled').length;
    }
    await sleep(5_000);
    opts.log(`  ended ${ended} leftover changes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  };
  const target = await runAt(opts.burstRate, opts.burstSeconds);
  const search: BurstRun[] = [];
  let highest: number | null = target.held ? opts.burstRate : null;
  if (!target.held) {
    // Step down from what was achieved until a rate holds (a bounded number of short runs).
    let rate = Math.max(0.5, Math.floor(Math.min(opts.burstRate * 0.8, target.achievedRate * 0.9) * 2) / 2);
    for (let step = 0; step < opts.burstSearchSteps && rate >= 0.5; step++) {
      const r = await runAt(rate, opts.burstSearchSeconds);
      search.push(r);
      if (r.held) {
        highest = rate;
        break;
      }
      rate = Math.floor(rate * 0.75 * 2) / 2;
    }
  }
  results.burst = {
    target,
    search,
    highestRateHeld: highest,
    note: target.held
      ? `${opts.burstRate}/s held for ${opts.burstSeconds}s`
      : `${opts.burstRate}/s not held; ${highest !== null ? `${highest}/s held for ${opts.burstSearchSeconds}s` : 'no lower rate tried held'}`,
  };
}

// ── 6: scale ──────────────────────────────────────────────────────────────────────────────────

async function scale(stack: Stack, opts: BenchOptions, users: UserFactory, results: BenchResults) {
  const n = opts.scalePending;
  // Long enough to create them all first (at ~20/s worst case), but short enough to watch them expire.
  const ttlMs = opts.scaleTtlMs ?? Math.max(60_000, Math.ceil(n / 20) * 1000 + 30_000);
  opts.log(`scale: restarting the API with EMAIL_CHANGE_TTL=${ttlMs / 1000}s`);
  await stack.restartApi({ EMAIL_CHANGE_TTL: `${ttlMs}ms` });
  const pool = await users.create(n);
  const domain = `scale-${users.tag}.example.com`;
  await sleep(3_000);
  const pgSize = async () => Number((await stack.pool.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size')).rows[0]!.size);
  const heap = async () => (await stack.worker.stats())?.memory.heapUsed ?? null;
  const before = { rss: stack.worker.rssBytes() ?? null, heap: await heap(), temporal: await stack.temporalStorage(), pg: await pgSize() };

  opts.log(`scale: starting ${n} changes (${opts.scaleConcurrency} at a time) and leaving them pending`);
  const created = await closedLoop({
    concurrency: opts.scaleConcurrency,
    seconds: 24 * 3_600,
    maxFlows: n,
    flow: async (i) => {
      const user = pool[i]!;
      const res = await request(stack.apiBaseUrl, 'POST', '/v1/email/change', {
        token: user.token,
        json: { email: `${user.username.toLowerCase()}@${domain}`, auth: { method: 'password', password: BENCH_PASSWORD } },
      });
      if (res.status !== 202) throw new HttpError('start', res);
      return { total: res.ms, steps: {} };
    },
  });
  const sentCount = async () =>
    Number(
      (await stack.pool.query<{ n: string }>(`SELECT count(*) AS n FROM mail_messages WHERE status = 'sent' AND recipient LIKE $1`, [`%@${domain}`])).rows[0]!.n,
    );
  const mailDeadline = Date.now() + 120_000 + n * 20;
  let sent = await sentCount();
  while (sent < created.completed && Date.now() < mailDeadline) {
    await sleep(1_000);
    sent = await sentCount();
  }
  opts.log(`scale: ${created.completed} pending (${created.perSec}/s), ${sent} mails sent; measuring`);
  await sleep(3_000);
  const after = { rss: stack.worker.rssBytes() ?? null, heap: await heap(), temporal: await stack.temporalStorage(), pg: await pgSize() };
  const pendingUsers = pool.slice(0, created.completed);
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const status = await fixedRateGet({
    name: `status (pending) with ${created.completed} pending`,
    baseUrl: stack.apiBaseUrl,
    pathLabel: '/v1/email/change',
    path: () => '/v1/email/change',
    token: () => pendingUsers[Math.floor(random() * pendingUsers.length)]!.token,
    rate: opts.scaleStatusRate,
    seconds: opts.latencySeconds,
    autocannonCheck: true, // the bench's tool before stop 14, side by side
  });

  // Expiry: every one of them must end EXPIRED close to its own deadline.
  const lastDeadline = await stack.pool.query<{ at: Date | null }>(
    `SELECT max(r.expires_at) AS at FROM email_change_requests r WHERE r.new_email_normalized LIKE $1`,
    [`%@${domain}`],
  );
  const deadline = lastDeadline.rows[0]!.at?.getTime() ?? Date.now();
  opts.log(`scale: waiting for the expiry (last deadline in ${Math.max(0, Math.round((deadline - Date.now()) / 1000))}s)`);
  const waitStart = Date.now();
  const counts = async () =>
    (
      await stack.pool.query<{ state: string; n: string }>(
        `SELECT state, count(*) AS n FROM email_change_requests WHERE new_email_normalized LIKE $1 GROUP BY state`,
        [`%@${domain}`],
      )
    ).rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.state]: Number(r.n) }), {});
  await sleep(Math.max(0, deadline - Date.now()));
  let states = await counts();
  while ((states.EXPIRED ?? 0) < created.completed && Date.now() < deadline + 120_000) {
    await sleep(2_000);
    states = await counts();
  }
  const lateness = await stack.pool.query<{ ms: number }>(
    `SELECT EXTRACT(EPOCH FROM (completed_at - expires_at)) * 1000 AS ms FROM email_change_requests
     WHERE new_email_normalized LIKE $1 AND state = 'EXPIRED'`,
    [`%@${domain}`],
  );
  const latenessSummary = summarize(lateness.rows.map((r) => Number(r.ms)));
  const expired = states.EXPIRED ?? 0;
  const { EXPIRED: _e, ...otherStates } = states;
  await sleep(2_000);
  const per = (a: number | null, b: number | null) => (a === null || b === null || created.completed === 0 ? null : Math.round((a - b) / created.completed));
  results.scale = {
    pending: created.completed,
    ttlSeconds: ttlMs / 1000,
    creation: { seconds: created.seconds, perSec: created.perSec, failed: created.failed, mailsSent: sent, errors: created.errors },
    workerRssBytes: { before: before.rss, after: after.rss, afterExpiry: stack.worker.rssBytes() ?? null },
    workerHeapUsedBytes: { before: before.heap, after: after.heap },
    temporalBytes: { before: before.temporal?.bytes ?? null, after: after.temporal?.bytes ?? null, perPending: per(after.temporal?.bytes ?? null, before.temporal?.bytes ?? null), file: after.temporal?.what },
    postgresBytes: { before: before.pg, after: after.pg, perPending: per(after.pg, before.pg)! },
    status,
    expiry: {
      expired,
      otherStates,
      // On time: all of them, none later than 10 s after its deadline.
      onTime: expired === created.completed && created.completed > 0 && latenessSummary.max <= 10_000,
      lateness: latenessSummary,
      waitedSeconds: Math.round((Date.now() - waitStart) / 1000),
    },
  };
  opts.log(`scale: ${expired}/${created.completed} expired, lateness p99 ${latenessSummary.p99} ms, max ${latenessSummary.max} ms`);
}

export type { FlowTiming };
