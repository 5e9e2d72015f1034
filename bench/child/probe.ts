import { monitorEventLoopDelay } from 'node:perf_hooks';
import { probeStats, RESOLUTION_MS } from '../lib/eld';

/**
 * Preloaded (`node --import tsx --import bench/child/probe.ts src/api/server.ts`) into the API
 * child process, whose entry point is the production one. (Not into the Temporal workers: their
 * workflow threads inherit the preloads and cannot load a .ts file; their RSS comes from /proc.)
 * Over the IPC channel it answers the bench with this process's event-loop delay
 * (perf_hooks.monitorEventLoopDelay), memory and CPU; it never keeps the process alive.
 */

type ProbeRequest = { type: 'probe-stats' | 'probe-reset'; id: number };

if (process.send) {
  const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  eld.enable();
  process.on('message', (msg: ProbeRequest) => {
    if (msg?.type === 'probe-reset') {
      eld.reset();
      process.send?.({ type: 'probe-reset', id: msg.id });
    } else if (msg?.type === 'probe-stats') {
      process.send?.({ type: 'probe-stats', id: msg.id, stats: probeStats(eld) });
    }
  });
  // Adding a 'message' listener refs the channel; the entry point decides when the process ends.
  process.channel?.unref();
}
