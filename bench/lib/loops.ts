import type { FlowTiming } from './flows';
import { sleep, summarize, type LatencySummary } from './stats';

/** Bounded load drivers for the multi-step flows (single requests go through autocannon). */

export interface LoopResult {
  concurrency: number;
  seconds: number;
  completed: number;
  failed: number;
  /** Completions inside the measured window per second. */
  perSec: number;
  latency: LatencySummary;
  steps: Record<string, LatencySummary>;
  errors: string[];
}

function stepSummaries(timings: FlowTiming[]): Record<string, LatencySummary> {
  const names = new Set(timings.flatMap((t) => Object.keys(t.steps)));
  return Object.fromEntries([...names].map((n) => [n, summarize(timings.map((t) => t.steps[n]!).filter((v) => v !== undefined))]));
}

const remember = (errors: string[], err: unknown) => {
  const text = err instanceof Error ? err.message : String(err);
  if (errors.length < 5 && !errors.includes(text)) errors.push(text);
};

/**
 * Closed loop: `concurrency` lanes each run one flow after another for `seconds` (and at most
 * `maxFlows` flows in all); throughput counts the flows that finished inside the window.
 */
export async function closedLoop(opts: { concurrency: number; seconds: number; maxFlows: number; flow: (i: number) => Promise<FlowTiming> }): Promise<LoopResult> {
  const t0 = performance.now();
  const end = t0 + opts.seconds * 1000;
  let issued = 0;
  let inWindow = 0;
  let failed = 0;
  const timings: FlowTiming[] = [];
  const errors: string[] = [];
  const lane = async () => {
    while (performance.now() < end && issued < opts.maxFlows) {
      const i = issued++;
      try {
        const timing = await opts.flow(i);
        timings.push(timing);
        if (performance.now() <= end) inWindow++;
      } catch (err) {
        failed++;
        remember(errors, err);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  // A window cut short by maxFlows counts up to the last completion.
  const windowMs = Math.min(end, performance.now()) - t0;
  return {
    concurrency: opts.concurrency,
    seconds: Math.round(windowMs) / 1000,
    completed: timings.length,
    failed,
    perSec: Math.round((inWindow / (windowMs / 1000)) * 100) / 100,
    latency: summarize(timings.map((t) => t.total)),
    steps: stepSummaries(timings),
    errors,
  };
}

export interface OpenLoopWindow {
  fromS: number;
  toS: number;
  arrivals: number;
  /** Flows finished inside this window (whenever they arrived). */
  completions: number;
  /** Flows in flight at the window's end. */
  backlog: number;
  /** Latency from each arrival's scheduled time, over the flows that arrived in this window. */
  latency: LatencySummary;
}

export interface OpenLoopResult {
  targetRate: number;
  seconds: number;
  arrivals: number;
  completed: number;
  failed: number;
  /** Arrivals not started because `maxInFlight` flows were already running. */
  dropped: number;
  /** Still running when the drain time ran out. */
  unfinished: number;
  /** Completions per second after the first window (the steady state), during the arrivals. */
  achievedRate: number;
  maxBacklog: number;
  backlogAtEnd: number;
  /** From the last arrival to the last completion. */
  drainSeconds: number;
  latency: LatencySummary;
  steps: Record<string, LatencySummary>;
  windows: OpenLoopWindow[];
  held: boolean;
  errors: string[];
}

/**
 * Open loop: flows arrive at `rate` per second for `seconds`, each on schedule whether or not
 * earlier ones finished (at most `maxInFlight` at once), latency counted from the scheduled
 * arrival (no coordinated omission); then waits up to `drainSeconds` for the last ones.
 */
export async function openLoop(opts: {
  rate: number;
  seconds: number;
  maxInFlight: number;
  windowSeconds: number;
  drainSeconds: number;
  flow: (i: number) => Promise<FlowTiming>;
}): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.round(opts.rate * opts.seconds));
  const interval = 1000 / opts.rate;
  const records: { arrival: number; done?: number; timing?: FlowTiming; ok?: boolean }[] = [];
  const errors: string[] = [];
  const running = new Set<Promise<void>>();
  let dropped = 0;
  const backlogSamples: { at: number; inFlight: number }[] = [];
  const t0 = performance.now();
  const sampler = setInterval(() => backlogSamples.push({ at: performance.now() - t0, inFlight: running.size }), 250);

  for (let i = 0; i < total; i++) {
    const arrival = i * interval;
    const wait = t0 + arrival - performance.now();
    if (wait > 1) await sleep(wait);
    if (running.size >= opts.maxInFlight) {
      dropped++;
      continue;
    }
    const record: (typeof records)[number] = { arrival };
    records.push(record);
    const p = opts
      .flow(i)
      .then((timing) => {
        record.ok = true;
        record.timing = timing;
      })
      .catch((err) => {
        record.ok = false;
        remember(errors, err);
      })
      .finally(() => {
        record.done = performance.now() - t0;
        running.delete(p);
      });
    running.add(p);
  }
  const arrivalsEnd = performance.now() - t0;
  const backlogAtEnd = running.size;
  const drainDeadline = performance.now() + opts.drainSeconds * 1000;
  while (running.size > 0 && performance.now() < drainDeadline) {
    await Promise.race([sleep(200), ...running]);
  }
  clearInterval(sampler);

  const latencyOf = (r: (typeof records)[number]) => r.done! - r.arrival;
  const ok = records.filter((r) => r.ok);
  const windowMs = opts.windowSeconds * 1000;
  const windows: OpenLoopWindow[] = [];
  for (let from = 0; from < opts.seconds * 1000 - 1; from += windowMs) {
    const to = Math.min(from + windowMs, opts.seconds * 1000);
    const arrived = records.filter((r) => r.arrival >= from && r.arrival < to);
    const atEnd = backlogSamples.filter((s) => s.at <= to).at(-1);
    windows.push({
      fromS: from / 1000,
      toS: to / 1000,
      arrivals: arrived.length,
      completions: ok.filter((r) => r.done! >= from && r.done! < to).length,
      backlog: atEnd?.inFlight ?? 0,
      latency: summarize(arrived.filter((r) => r.ok).map(latencyOf)),
    });
  }
  const steadyFrom = opts.seconds > 2 * opts.windowSeconds ? windowMs : 0;
  const steadyTo = opts.seconds * 1000;
  const steadyDone = ok.filter((r) => r.done! >= steadyFrom && r.done! < steadyTo).length;
  const achievedRate = Math.round((steadyDone / ((steadyTo - steadyFrom) / 1000)) * 100) / 100;
  const failed = records.filter((r) => r.ok === false).length;
  const unfinished = records.filter((r) => r.done === undefined).length;
  const lastDone = records.reduce((m, r) => (r.done !== undefined && r.done > m ? r.done : m), arrivalsEnd);
  const latency = summarize(ok.map(latencyOf));
  const firstP50 = windows[0]?.latency.p50 ?? latency.p50;
  // Held: nothing failed or was dropped, completions kept pace, and work did not pile up.
  const held =
    failed === 0 &&
    dropped === 0 &&
    unfinished === 0 &&
    achievedRate >= 0.95 * opts.rate &&
    backlogAtEnd <= Math.max(5, opts.rate * Math.max(2, (3 * firstP50) / 1000));
  return {
    targetRate: opts.rate,
    seconds: opts.seconds,
    arrivals: records.length + dropped,
    completed: ok.length,
    failed,
    dropped,
    unfinished,
    achievedRate,
    maxBacklog: backlogSamples.reduce((m, s) => Math.max(m, s.inFlight), backlogAtEnd),
    backlogAtEnd,
    drainSeconds: Math.round(lastDone - arrivalsEnd) / 1000,
    latency,
    steps: stepSummaries(ok.map((r) => r.timing!)),
    windows,
    held,
    errors,
  };
}
