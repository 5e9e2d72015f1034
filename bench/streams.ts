import type { Stack } from './lib/stack';
import type { BenchOptions } from './options';
import type { UserFactory, BenchUser } from './lib/users';
import { startAndAwaitMail, type E2EContext } from './lib/flows';
import { request, HttpError } from './lib/http';
import { sleep, summarize, type LatencySummary } from './lib/stats';
import type { EventLoopDelay } from './lib/eld';
import { treeCpuMs } from './lib/proc';

/**
 * Issue #14: many open status streams (GET /v1/email/change/events) on one API process. Opens
 * `streamsCount` streams (one per user), then measures the API process while they sit idle
 * (heartbeats only) and while changes happen: first `streamsChanges` add flows by users without a
 * stream (the baseline), then as many by users whose stream is open, timing each confirmation
 * until the stream pushes `APPROVED`.
 */

export interface StreamsPhase {
  seconds: number;
  apiCpuMs: number | null;
  /** CPU of the API process over the phase, % of one core. */
  apiCpuPercent: number | null;
  postgresCpuMs: number | null;
  apiRssBytes: number | null;
  apiEventLoop: EventLoopDelay | null;
}

export interface StreamsResult {
  streams: number;
  opened: number;
  openSeconds: number;
  heartbeatMs: number;
  apiRssBytes: { before: number | null; open: number | null; afterClose: number | null };
  /** V8 heap in use in the API process (from its probe): less noisy than RSS for the per-stream cost. */
  apiHeapUsedBytes: { before: number | null; open: number | null };
  idle: StreamsPhase;
  baseline: StreamsPhase & { changes: number; failed: number; apiCpuMsPerChange: number | null };
  withStreams: StreamsPhase & { changes: number; failed: number; apiCpuMsPerChange: number | null; pushLatency: LatencySummary; verifyLatency: LatencySummary; pushAfterAnswer: LatencySummary; eventsReceived: number };
  errors: string[];
}

interface OpenStream {
  user: BenchUser;
  events: number;
  first: Promise<void>;
  /** Resolves when the stream pushes a status with this state. */
  waitForState(state: string): Promise<number>;
  close(): void;
}

async function openStream(baseUrl: string, user: BenchUser): Promise<OpenStream> {
  const abort = new AbortController();
  const res = await fetch(`${baseUrl}/v1/email/change/events`, { headers: { authorization: `Bearer ${user.token}` }, signal: abort.signal });
  if (res.status !== 200 || !res.body) throw new Error(`stream: HTTP ${res.status} ${await res.text().catch(() => '')}`.slice(0, 200));
  const waiters: { state: string; resolve: (at: number) => void }[] = [];
  let gotFirst!: () => void;
  const stream: OpenStream = {
    user,
    events: 0,
    first: new Promise<void>((r) => (gotFirst = r)),
    waitForState: (state) => new Promise<number>((resolve) => waiters.push({ state, resolve })),
    close: () => abort.abort(),
  };
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (!data) continue;
          stream.events++;
          gotFirst();
          if (waiters.length === 0) continue;
          const state = (JSON.parse(data.slice(6)) as { change: { state: string } | null }).change?.state;
          for (let i = waiters.length - 1; i >= 0; i--) {
            if (waiters[i]!.state === state) waiters.splice(i, 1)[0]!.resolve(performance.now());
          }
        }
      }
    } catch {
      // closed by the bench
    }
  })();
  return stream;
}

/** One measured phase of the API process (CPU from /proc, RSS, event-loop delay from its probe). */
async function phase(stack: Stack, work: () => Promise<void>): Promise<StreamsPhase> {
  await stack.api.resetEventLoopDelay().catch(() => undefined);
  const cpu0 = stack.api.cpuMs();
  const pg0 = stack.postgresPid ? treeCpuMs(stack.postgresPid) : undefined;
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = stack.api.cpuMs();
  const pg1 = stack.postgresPid ? treeCpuMs(stack.postgresPid) : undefined;
  const apiCpuMs = cpu0 === undefined || cpu1 === undefined || stack.api.inProcess ? null : cpu1 - cpu0;
  const stats = await stack.api.stats().catch(() => undefined);
  return {
    seconds: Math.round(seconds * 10) / 10,
    apiCpuMs: apiCpuMs === null ? null : Math.round(apiCpuMs),
    apiCpuPercent: apiCpuMs === null ? null : Math.round((apiCpuMs / (seconds * 1000)) * 1000) / 10,
    postgresCpuMs: pg0 === undefined || pg1 === undefined ? null : Math.round(pg1 - pg0),
    apiRssBytes: stack.api.inProcess ? null : (stack.api.rssBytes() ?? null),
    apiEventLoop: stack.api.inProcess ? null : (stats?.eld ?? null),
  };
}

/** Runs `count` add flows, `concurrency` at a time; `confirm` does the confirmation and returns its latency. */
async function changes(count: number, concurrency: number, flow: (i: number) => Promise<void>, errors: string[]): Promise<number> {
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await flow(i).catch((err: unknown) => {
          failed++;
          const text = err instanceof Error ? err.message : String(err);
          if (errors.length < 5 && !errors.includes(text)) errors.push(text);
        });
      }
    }),
  );
  return failed;
}

export async function streamsSection(stack: Stack, opts: BenchOptions, users: UserFactory, ctx: E2EContext): Promise<StreamsResult> {
  const say = opts.log;
  const errors: string[] = [];
  const count = opts.streamsCount;
  const changeCount = Math.min(opts.streamsChanges, count);
  const heartbeatMs = Number(opts.serviceEnv.SSE_HEARTBEAT_MS ?? 15_000);
  say(`streams: creating ${count + changeCount} users`);
  const [streamUsers, baselineUsers] = [await users.create(count), await users.create(changeCount)];
  const heapUsed = async () => (stack.api.inProcess ? null : ((await stack.api.stats().catch(() => undefined))?.memory.heapUsed ?? null));
  const rssBefore = stack.api.rssBytes() ?? null;
  const heapBefore = await heapUsed();

  say(`streams: opening ${count} streams on one API process`);
  const t0 = performance.now();
  const streams: OpenStream[] = [];
  for (let i = 0; i < streamUsers.length; i += 50) {
    const batch = await Promise.allSettled(streamUsers.slice(i, i + 50).map((u) => openStream(stack.apiBaseUrl, u)));
    for (const b of batch) {
      if (b.status === 'fulfilled') streams.push(b.value);
      else if (errors.length < 5) errors.push((b.reason as Error).message);
    }
  }
  await Promise.race([Promise.all(streams.map((s) => s.first)), sleep(30_000)]);
  const openSeconds = (performance.now() - t0) / 1000;
  say(`streams: ${streams.length} open in ${openSeconds.toFixed(1)} s; idle for ${Math.ceil(heartbeatMs / 1000) + 1} s`);

  try {
    const idle = await phase(stack, () => sleep(heartbeatMs + 1_000)); // at least one heartbeat to every stream
    const rssOpen = stack.api.rssBytes() ?? null;
    const heapOpen = await heapUsed();

    say(`streams: ${changeCount} add flows by users without a stream (baseline)`);
    let baselineFailed = 0;
    const baseline = await phase(stack, async () => {
      baselineFailed = await changes(changeCount, 10, async (i) => {
        const u = baselineUsers[i]!;
        const started = await startAndAwaitMail(ctx, u, `stream-base-${u.id}@bench.example`);
        const verify = await request(ctx.baseUrl, 'POST', '/v1/email/verify', { json: { token: started.token } });
        if (verify.status !== 200) throw new HttpError('verify', verify);
      }, errors);
    });

    say(`streams: ${changeCount} add flows by users whose stream is open`);
    const push: number[] = [];
    const verifyMs: number[] = [];
    const afterAnswer: number[] = [];
    const eventsBefore = streams.reduce((n, s) => n + s.events, 0);
    let withFailed = 0;
    const withStreams = await phase(stack, async () => {
      withFailed = await changes(changeCount, 10, async (i) => {
        const s = streams[i]!;
        const started = await startAndAwaitMail(ctx, s.user, `stream-live-${s.user.id}@bench.example`);
        const approved = s.waitForState('APPROVED');
        const sentAt = performance.now();
        const verify = await request(ctx.baseUrl, 'POST', '/v1/email/verify', { json: { token: started.token } });
        const answeredAt = performance.now();
        if (verify.status !== 200) throw new HttpError('verify', verify);
        const at = await Promise.race([approved, sleep(ctx.timeoutMs).then(() => undefined)]);
        if (at === undefined) throw new Error('the stream never pushed APPROVED');
        push.push(at - sentAt);
        verifyMs.push(answeredAt - sentAt);
        afterAnswer.push(at - answeredAt);
      }, errors);
    });
    const eventsReceived = streams.reduce((n, s) => n + s.events, 0) - eventsBefore;
    const perChange = (p: StreamsPhase, n: number) => (p.apiCpuMs === null || n === 0 ? null : Math.round((p.apiCpuMs / n) * 10) / 10);

    streams.forEach((s) => s.close());
    await sleep(2_000);
    return {
      streams: count,
      opened: streams.length,
      openSeconds: Math.round(openSeconds * 10) / 10,
      heartbeatMs,
      apiRssBytes: { before: rssBefore, open: rssOpen, afterClose: stack.api.rssBytes() ?? null },
      apiHeapUsedBytes: { before: heapBefore, open: heapOpen },
      idle,
      baseline: { ...baseline, changes: changeCount - baselineFailed, failed: baselineFailed, apiCpuMsPerChange: perChange(baseline, changeCount - baselineFailed) },
      withStreams: { ...withStreams, changes: changeCount - withFailed, failed: withFailed, apiCpuMsPerChange: perChange(withStreams, changeCount - withFailed), pushLatency: summarize(push), verifyLatency: summarize(verifyMs), pushAfterAnswer: summarize(afterAnswer), eventsReceived },
      errors,
    };
  } finally {
    streams.forEach((s) => s.close());
  }
}

/** The report's section. */
export function streamsMarkdown(r: StreamsResult, f: (n: number | null | undefined, digits?: number) => string, mib: (b: number | null | undefined) => string): string[] {
  const out = ['', `## Status streams: ${r.opened} open on one API process (issue #14)`, ''];
  out.push(
    `GET /v1/email/change/events, one stream per user, opened in ${f(r.openSeconds)} s; heartbeat every ${f(r.heartbeatMs / 1000)} s. One LISTEN connection fans out to every stream. API RSS ${mib(r.apiRssBytes.before)} before, ${mib(r.apiRssBytes.open)} with the streams open (${mib(r.apiRssBytes.open !== null && r.apiRssBytes.before !== null ? r.apiRssBytes.open - r.apiRssBytes.before : null)} more, ${r.apiRssBytes.open !== null && r.apiRssBytes.before !== null ? f((r.apiRssBytes.open - r.apiRssBytes.before) / r.opened / 1024) : '–'} KiB per stream), ${mib(r.apiRssBytes.afterClose)} after closing them; V8 heap in use ${mib(r.apiHeapUsedBytes.before)} → ${mib(r.apiHeapUsedBytes.open)} (${r.apiHeapUsedBytes.open !== null && r.apiHeapUsedBytes.before !== null ? f((r.apiHeapUsedBytes.open - r.apiHeapUsedBytes.before) / r.opened / 1024) : '–'} KiB per stream).`,
    '',
  );
  const row = (label: string, p: StreamsPhase, extra: string[]) => `| ${[label, f(p.seconds), f(p.apiCpuPercent), f(p.postgresCpuMs, 0), mib(p.apiRssBytes), p.apiEventLoop ? `${f(p.apiEventLoop.p50Ms)} / ${f(p.apiEventLoop.p99Ms)}` : '–', ...extra].join(' | ')} |`;
  out.push('| phase | seconds | API CPU % of a core | PostgreSQL CPU ms | API RSS | API event-loop delay p50 / p99 ms | changes | API CPU ms per change | push latency p50 / p99 ms |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  out.push(row('idle, streams open', r.idle, ['–', '–', '–']));
  out.push(row('add flows, no stream open for them (baseline)', r.baseline, [String(r.baseline.changes), f(r.baseline.apiCpuMsPerChange), '–']));
  out.push(row('add flows, each user\'s stream open', r.withStreams, [String(r.withStreams.changes), f(r.withStreams.apiCpuMsPerChange), `${f(r.withStreams.pushLatency.p50)} / ${f(r.withStreams.pushLatency.p99)}`]));
  const w = r.withStreams;
  out.push(
    '',
    `Push latency: POST /v1/email/verify sent → the stream's \`APPROVED\` event received (the change is applied before the verify answer, so this includes the verify's own ${f(w.verifyLatency.p50)} / ${f(w.verifyLatency.p99)} ms p50 / p99 under this load); the event arrived ${f(w.pushAfterAnswer.p50)} / ${f(w.pushAfterAnswer.p99)} ms p50 / p99 after the verify answer (negative: before it). ${w.eventsReceived} events pushed during these flows (several log events in quick succession arrive as one status).${r.errors.length ? ` Errors: ${r.errors.join('; ')}` : ''}`,
  );
  return out;
}
