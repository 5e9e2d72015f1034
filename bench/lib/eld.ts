import type { IntervalHistogram } from 'node:perf_hooks';

/** Sampling interval of the event-loop delay histograms (perf_hooks.monitorEventLoopDelay). */
export const RESOLUTION_MS = 10;

/** Event-loop delay beyond the sampling interval, ms. */
export interface EventLoopDelay {
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  count: number;
}

export interface ProbeStats {
  pid: number;
  eld: EventLoopDelay;
  memory: NodeJS.MemoryUsage;
  cpu: NodeJS.CpuUsage;
}

/** Each sample is the time between two ticks of a RESOLUTION_MS timer: the delay is what exceeds it. */
export function eventLoopDelay(h: IntervalHistogram): EventLoopDelay {
  const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
  return {
    minMs: ms(h.min),
    meanMs: ms(Number.isNaN(h.mean) ? RESOLUTION_MS * 1e6 : h.mean),
    p50Ms: ms(h.percentile(50)),
    p99Ms: ms(h.percentile(99)),
    maxMs: ms(h.max),
    count: h.count,
  };
}

export function probeStats(h: IntervalHistogram): ProbeStats {
  return { pid: process.pid, eld: eventLoopDelay(h), memory: process.memoryUsage(), cpu: process.cpuUsage() };
}
