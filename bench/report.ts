import fs from 'node:fs';
import path from 'node:path';
import type { BenchResults, CpuPerChange } from './harness';
import type { LatencySummary } from './lib/stats';
import { streamsMarkdown } from './streams';

const f = (n: number | null | undefined, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits).replace(/\.0+$/, ''));
const mib = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? '–' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const table = (head: string[], rows: (string | number)[][]) => [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
const lat = (s: LatencySummary | undefined) => (s ? [f(s.p50), f(s.p95), f(s.p99)] : ['–', '–', '–']);

const PROCS: [keyof CpuPerChange, string][] = [
  ['api', 'API'],
  ['worker', 'worker'],
  ['bareWorker', 'bare worker'],
  ['temporal', 'Temporal'],
  ['temporalStore', "Temporal's PostgreSQL"],
  ['postgres', 'PostgreSQL'],
  ['bench', 'bench (load + SMTP capture)'],
];

function cpuTable(rows: { label: string; cpu: CpuPerChange }[]): string {
  const used = PROCS.filter(([k]) => rows.some((r) => r.cpu[k] !== undefined && r.cpu[k] !== null));
  return table(
    ['', ...used.map(([, l]) => `${l} ms`), 'total ms'],
    rows.map((r) => [
      r.label,
      ...used.map(([k]) => f(r.cpu[k] ?? null)),
      f(used.reduce((sum, [k]) => sum + (r.cpu[k] ?? 0), 0)),
    ]),
  );
}

/** The markdown report: one table per section, the machine and how to reproduce. */
export function markdown(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`# Benchmark: email change service`);
  out.push('');
  out.push(`Run ${r.startedAt} · ${f(r.durationSeconds / 60, 1)} min · ${m.cpuModel}, ${m.cores} cores, ${f(m.memoryGiB)} GiB RAM · Node.js ${m.node} · ${m.os} · load average at start ${m.loadAverageAtStart.join(' / ')}, at end ${m.loadAverageAtEnd.join(' / ')}`);
  out.push('');
  out.push(`Stack: Temporal ${r.stack.temporal}; ${r.stack.postgres}; ${r.stack.smtp}. ${r.stack.mode === 'child' ? 'API and worker each in its own process (the production entry points).' : 'API and worker inside the bench process.'}`);
  out.push('');
  out.push(table(['setting', 'value'], Object.entries(r.stack.settings).map(([k, v]) => [k, String(v)])));

  if (r.engine || r.e2e) {
    out.push('', '## 1–2. Throughput: engine bound and end to end (closed loop)', '');
    out.push('Engine bound: `bench/workflows/bare-email-change.ts`, the Temporal shape of an add before issue #12 (start with the two search attributes, 4 activities with no-op bodies, one `verify` Update, deadline timer, upsert, completion), driven straight through the Temporal client on the same server; the add itself now runs its PostgreSQL steps as local activities (one regular activity, the SMTP send). End to end: POST /v1/auth/challenges and POST /v1/email/change with the signed challenge (biometric) → mail at the SMTP capture server → POST /v1/email/verify with its token → `APPROVED` in GET /v1/email/change.');
    out.push('');
    const levels = (r.e2e ?? r.engine ?? []).map((l) => l.concurrency);
    out.push(
      table(
        ['concurrency', 'engine bound flows/s', 'end to end changes/s', 'ratio', 'engine p50 / p99 ms', 'end to end p50 / p99 ms', 'failed'],
        levels.map((c) => {
          const e = r.engine?.find((l) => l.concurrency === c);
          const x = r.e2e?.find((l) => l.concurrency === c);
          return [c, f(e?.perSec), f(x?.perSec), x?.ratioToEngine != null ? `${f(x.ratioToEngine * 100, 0)} %` : '–', e ? `${f(e.latency.p50)} / ${f(e.latency.p99)}` : '–', x ? `${f(x.latency.p50)} / ${f(x.latency.p99)}` : '–', `${e?.failed ?? 0} / ${x?.failed ?? 0}`];
        }),
      ),
    );
    if (r.engineMinimal?.length) {
      out.push('', 'Engine minimum: `minimalEmailChange` in the same file, the cheapest Temporal shape that still gives a change\'s guarantees (start with both search attributes and TERMINATE_EXISTING, one validated `verify` Update, the durable deadline timer, completion; no activity). With the mail activity: `mailFloorEmailChange`, the same plus the mail as a regular activity (no-op body) whose completion the run hears of, as issue #12 keeps the SMTP send: the floor under an add\'s three workflow tasks, without PostgreSQL, local activities, the codec or the API. The add\'s shape: `addShapeEmailChange`, the current add\'s Temporal shape with no-op bodies (update-with-start answered after a local activity, the mail activity, a local activity in the `verify` Update, the outcome\'s upsert): what the add costs before PostgreSQL, SMTP, the codec and the API do any work.', '');
      out.push(
        table(
          ['concurrency', 'engine minimum flows/s', 'with the mail activity flows/s', "the add's shape flows/s", 'engine bound (old add shape) flows/s', 'end to end changes/s', 'end to end / minimum', 'end to end / with the mail', "end to end / the add's shape", 'minimum p50 / p99 ms'],
          r.engineMinimal.map((m) => {
            const e = r.engine?.find((l) => l.concurrency === m.concurrency);
            const mail = r.engineMailFloor?.find((l) => l.concurrency === m.concurrency);
            const shape = r.engineAddShape?.find((l) => l.concurrency === m.concurrency);
            const x = r.e2e?.find((l) => l.concurrency === m.concurrency);
            const pct = (ratio: number | null | undefined) => (ratio != null ? `${f(ratio * 100, 0)} %` : '–');
            return [m.concurrency, f(m.perSec), f(mail?.perSec), f(shape?.perSec), f(e?.perSec), f(x?.perSec), pct(x?.ratioToMinimal), pct(x?.ratioToMailFloor), pct(x?.ratioToAddShape), `${f(m.latency.p50)} / ${f(m.latency.p99)}`];
          }),
        ),
      );
    }
    out.push('', 'Where the time goes: p50 of each step, ms (engine: start RPC, until the no-op mail activity ran, the Update).', '');
    const stepRows: (string | number)[][] = [];
    for (const c of levels) {
      for (const [label, l] of [['engine', r.engine?.find((x) => x.concurrency === c)], ['end to end', r.e2e?.find((x) => x.concurrency === c)]] as const) {
        if (!l) continue;
        stepRows.push([c, label, f(l.steps.start?.p50), f(l.steps.startToMail?.p50), f(l.steps.confirmToApproved?.p50), f(l.latency.p50)]);
      }
    }
    out.push(table(['concurrency', 'flow', 'start', 'start → mail', 'confirm → APPROVED', 'total'], stepRows));
    out.push('', 'CPU time per completed flow, by process:', '');
    out.push(
      cpuTable([
        ...(r.engineMinimal ?? []).map((l) => ({ label: `engine minimum, concurrency ${l.concurrency}`, cpu: l.cpuMsPerFlow })),
        ...(r.engineMailFloor ?? []).map((l) => ({ label: `engine minimum with the mail, concurrency ${l.concurrency}`, cpu: l.cpuMsPerFlow })),
        ...(r.engineAddShape ?? []).map((l) => ({ label: `the add's shape (no-op bodies), concurrency ${l.concurrency}`, cpu: l.cpuMsPerFlow })),
        ...(r.engine ?? []).map((l) => ({ label: `engine, concurrency ${l.concurrency}`, cpu: l.cpuMsPerFlow })),
        ...(r.e2e ?? []).map((l) => ({ label: `end to end, concurrency ${l.concurrency}`, cpu: l.cpuMsPerFlow })),
      ]),
    );
    const errs = [...(r.engine ?? []), ...(r.e2e ?? [])].flatMap((l) => l.errors);
    if (errs.length) out.push('', `Errors seen: ${[...new Set(errs)].slice(0, 3).join('; ')}`);
  }

  if (r.flows?.length) {
    out.push('', '## 2b. Complete flows with password re-authentication (closed loop)', '');
    out.push('Add: start (argon2id) → mail → confirm → `APPROVED` in the status. Change (a verified address): start → mail to the new and the old address → confirm the new, then the old → `APPROVED`; the notice to the old address is sent but not awaited. History: as Temporal stores it (payloads encrypted), averaged over up to 20 runs (an approved change keeps its run open for the undo window, REVERT_WINDOW: its history as of APPROVED, the window timer included).', '');
    out.push(
      table(
        ['flow', 'flows', 'concurrency', 'flows/s', 'p50 / p99 ms', 'history events', 'history bytes (codec on)', 'failed'],
        r.flows.map((x) => [x.kind, x.run.completed, x.run.concurrency, f(x.run.perSec), `${f(x.run.latency.p50)} / ${f(x.run.latency.p99)}`, x.history.eventsPerChange, x.history.bytesPerChange, x.run.failed]),
      ),
    );
    out.push('', 'CPU time per completed flow, by process:', '');
    out.push(cpuTable(r.flows.map((x) => ({ label: `${x.kind} (password)`, cpu: x.run.cpuMsPerFlow }))));
    const errs = r.flows.flatMap((x) => x.run.errors);
    if (errs.length) out.push('', `Errors seen: ${[...new Set(errs)].slice(0, 3).join('; ')}`);
  }
  if (r.codec) {
    const c = r.codec;
    const h = c.historyBytes;
    const pct = (a: number) => `${f(((a - h.plain) / h.plain) * 100)} %`;
    out.push('', `Payload codec (bench/codec-cost.ts over the ${h.runs} recorded runs' ${c.payloads} payloads): encode + decode ${f(c.cpuUsPerPayload.withDeflate)} µs of CPU per payload (${f(c.cpuUsPerPayload.withoutDeflate)} µs without deflate); their histories are ${h.encrypted} B encrypted against ${h.plain} B without a codec (+${pct(h.encrypted)}; +${pct(h.encryptedNoDeflate)} without deflate).`);
    if (c.perChange?.length) {
      const from =
        c.perChange[0]!.source === 'bench'
          ? 'the histories of the add and change runs sampled above, as Temporal stored them'
          : 'the recorded runs add-approved and change-approved-with-old-confirmation (test/fixtures/histories)';
      out.push('', `Payload codec per change (bench/codec-cost.ts, measured on ${from}): every encrypted payload of a run encoded and decoded once, timed as CPU of one process; history bytes as stored, decrypted (what the run writes without a codec), and re-encrypted with deflate off.`, '');
      const serviceMs = (kind: string) => {
        const cpu = r.flows?.find((x) => x.kind === kind)?.run.cpuMsPerFlow;
        return cpu && (cpu.api ?? null) !== null && (cpu.worker ?? null) !== null ? cpu.api! + cpu.worker! : null;
      };
      const signed = (n: number) => `${n >= 0 ? '+' : ''}${f(n)}`;
      const grown = (n: number, plain: number) => `${n} (${signed(n - plain)} B, ${signed(((n - plain) / plain) * 100)} %)`;
      out.push(
        table(
          ['flow', 'runs', 'payloads per change', 'codec CPU ms per change', 'of the flow\'s API + worker CPU', 'CPU ms, deflate off', 'history B without codec', 'with codec (as stored)', 'with codec, deflate off'],
          c.perChange.map((x) => {
            const service = serviceMs(x.kind);
            return [
              x.kind,
              x.runs,
              f(x.payloads),
              f(x.cpuMs.withDeflate, 2),
              service ? `${f((x.cpuMs.withDeflate / service) * 100, 2)} % of ${f(service)} ms` : '–',
              f(x.cpuMs.withoutDeflate, 2),
              x.historyBytes.plain,
              grown(x.historyBytes.encrypted, x.historyBytes.plain),
              grown(x.historyBytes.encryptedNoDeflate, x.historyBytes.plain),
            ];
          }),
        ),
      );
    }
  }

  if (r.latency) {
    out.push('', '## 3. Latency per endpoint at fixed request rates', '');
    out.push(
      table(
        ['endpoint', 'request', 'rate/s', 'tool', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors'],
        r.latency.endpoints.map((e) => [e.name, `${e.method} ${e.path}`, f(e.ratePerSec), e.tool, e.count, ...lat(e), f(e.max), e.errors]),
      ),
    );
  }

  if (r.eventLoop) {
    const el = r.eventLoop;
    out.push('', '## 4. Event-loop health under password re-authentication at capacity', '');
    out.push(`${el.reauthConcurrency} users re-authenticate back to back (full argon2id verification, answered 409 SAME_EMAIL so no workflow starts): ${f(el.reauthPerSec)} re-authentications/s, latency p50 / p95 / p99 ${lat(el.reauthLatency).join(' / ')} ms${el.reauthErrors ? `, ${el.reauthErrors} unexpected answers` : ''}.`);
    out.push('');
    out.push(
      table(
        ['GET /v1/email/change (pending)', 'rate/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'API event-loop delay p99 ms', 'API event-loop delay max ms'],
        [
          ['alone', f(el.baseline.status.ratePerSec), ...lat(el.baseline.status), f(el.baseline.status.max), f(el.baseline.apiEventLoop?.p99Ms), f(el.baseline.apiEventLoop?.maxMs)],
          ['with re-auth at capacity', f(el.underReauth.status.ratePerSec), ...lat(el.underReauth.status), f(el.underReauth.status.max), f(el.underReauth.apiEventLoop?.p99Ms), f(el.underReauth.apiEventLoop?.maxMs)],
        ],
      ),
    );
  }

  if (r.burst) {
    const b = r.burst.target;
    out.push('', '## 5. Campaign burst (open loop, complete add-email flows)', '');
    out.push(`Target ${f(b.targetRate)}/s for ${b.seconds} s: ${b.arrivals} arrivals, ${b.completed} completed, ${b.failed} failed, ${b.dropped} dropped; achieved ${f(b.achievedRate, 2)}/s in steady state; backlog max ${b.maxBacklog}, ${b.backlogAtEnd} at the last arrival, drained in ${f(b.drainSeconds)} s; latency from the scheduled arrival p50 / p95 / p99 ${lat(b.latency).join(' / ')} ms. **${r.burst.note}.** Highest rate held: ${r.burst.highestRateHeld !== null ? `${f(r.burst.highestRateHeld)}/s` : 'none of the rates tried'}.`);
    out.push('');
    out.push(
      table(
        ['window s', 'arrivals', 'completions', 'backlog at end', 'p50 ms', 'p95 ms', 'p99 ms'],
        b.windows.map((w) => [`${w.fromS}–${w.toS}`, w.arrivals, w.completions, w.backlog, ...lat(w.latency)]),
      ),
    );
    out.push('', 'CPU time per completed change, by process:', '');
    out.push(cpuTable([{ label: `${f(b.targetRate)}/s`, cpu: b.cpuMsPerChange }, ...r.burst.search.map((s) => ({ label: `${f(s.targetRate)}/s (search)`, cpu: s.cpuMsPerChange }))]));
    if (r.burst.search.length) {
      out.push('', 'Lower rates tried:', '');
      out.push(table(['rate/s', 'seconds', 'achieved/s', 'held', 'p50 / p99 ms', 'backlog at end'], r.burst.search.map((s) => [f(s.targetRate), s.seconds, f(s.achievedRate, 2), s.held ? 'yes' : 'no', `${f(s.latency.p50)} / ${f(s.latency.p99)}`, s.backlogAtEnd])));
    }
    if (b.errors.length) out.push('', `Errors seen: ${b.errors.slice(0, 3).join('; ')}`);
  }

  if (r.scale) {
    const s = r.scale;
    out.push('', `## 6. Scale: ${s.pending} changes left pending (EMAIL_CHANGE_TTL ${s.ttlSeconds}s)`, '');
    out.push(
      table(
        ['measure', 'value'],
        [
          ['created', `${s.pending} in ${f(s.creation.seconds)} s (${f(s.creation.perSec)}/s), ${s.creation.failed} failed, ${s.creation.mailsSent} mails sent`],
          ['worker RSS before / with them pending / after expiry', `${mib(s.workerRssBytes.before)} / ${mib(s.workerRssBytes.after)} / ${mib(s.workerRssBytes.afterExpiry)}`],
          ['worker heap used before / with them pending', `${mib(s.workerHeapUsedBytes.before)} / ${mib(s.workerHeapUsedBytes.after)}`],
          [`Temporal storage (${s.temporalBytes.file ?? 'not measured'}) before / after, per pending change`, `${mib(s.temporalBytes.before)} / ${mib(s.temporalBytes.after)}, ${s.temporalBytes.perPending ?? '–'} bytes`],
          ['PostgreSQL pg_database_size before / after, per pending change', `${mib(s.postgresBytes.before)} / ${mib(s.postgresBytes.after)}, ${s.postgresBytes.perPending} bytes`],
          [`status (pending) at ${f(s.status.ratePerSec)}/s, random users`, `p50 ${f(s.status.p50)} / p95 ${f(s.status.p95)} / p99 ${f(s.status.p99)} ms, ${s.status.errors} errors (evenly spaced, timed from when each was due${s.status.client ? `; the load generator's own event-loop delay max ${f(s.status.client.eventLoopDelayMaxMs)} ms` : ''})`],
          ...(s.status.autocannon
            ? [[`the same through autocannon (each of its 10 connections sends its share back to back at the start of every second)`, `p50 ${f(s.status.autocannon.p50)} / p99 ${f(s.status.autocannon.p99)} ms`]]
            : []),
          ['expired on time', `${s.expiry.onTime ? 'yes' : 'NO'}: ${s.expiry.expired}/${s.pending} EXPIRED${Object.keys(s.expiry.otherStates).length ? ` (others: ${JSON.stringify(s.expiry.otherStates)})` : ''}; lateness after the deadline p50 ${f(s.expiry.lateness.p50)} / p99 ${f(s.expiry.lateness.p99)} / max ${f(s.expiry.lateness.max)} ms`],
        ],
      ),
    );
  }

  if (r.streams) out.push(...streamsMarkdown(r.streams, f, mib));
  if (r.errors.length) {
    out.push('', '## Errors', '', ...r.errors.map((e) => `- ${e.section}: ${e.message}`));
  }
  out.push('', '## Notes', '', ...r.stack.notes.map((n) => `- ${n}`));
  out.push('', 'Reproduce: `npm ci && npm run bench` (options: `npm run bench -- --help`; the issue\'s long runs: `--burst-seconds 600`, `--scale-pending 10000`). Raw numbers: `bench/results/latest.json`.');
  return out.join('\n') + '\n';
}

/** Latency against concurrency, hand-written SVG: p50 and p99 of the engine bound and end to end. */
export function latencySvg(r: BenchResults): string {
  const W = 640;
  const H = 400;
  const pad = { left: 70, right: 170, top: 40, bottom: 50 };
  const levels = (r.e2e ?? r.engine ?? []).map((l) => l.concurrency);
  const series = [
    { name: 'end to end p99', color: '#c0392b', dash: '', points: r.e2e?.map((l) => l.latency.p99) },
    { name: 'end to end p50', color: '#e67e22', dash: '', points: r.e2e?.map((l) => l.latency.p50) },
    { name: 'engine bound p99', color: '#2c3e50', dash: '6 4', points: r.engine?.map((l) => l.latency.p99) },
    { name: 'engine bound p50', color: '#2980b9', dash: '6 4', points: r.engine?.map((l) => l.latency.p50) },
  ].filter((s) => s.points && s.points.length > 0) as { name: string; color: string; dash: string; points: number[] }[];
  const maxY = Math.max(1, ...series.flatMap((s) => s.points.filter(Number.isFinite)));
  const step = niceStep(maxY / 5);
  const top = Math.ceil(maxY / step) * step;
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const x = (i: number) => pad.left + (levels.length === 1 ? plotW / 2 : (i * plotW) / (levels.length - 1));
  const y = (v: number) => pad.top + plotH - (v / top) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2 - pad.right / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">Latency of a complete change against concurrency</text>`);
  for (let v = 0; v <= top + 1e-9; v += step) {
    parts.push(`<line x1="${pad.left}" y1="${y(v).toFixed(1)}" x2="${pad.left + plotW}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${pad.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${f(v, 0)}</text>`);
  }
  levels.forEach((c, i) => parts.push(`<text x="${x(i).toFixed(1)}" y="${pad.top + plotH + 18}" text-anchor="middle">${c}</text>`));
  parts.push(`<line x1="${pad.left}" y1="${pad.top + plotH}" x2="${pad.left + plotW}" y2="${pad.top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${pad.top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${pad.left + plotW / 2}" y="${H - 12}" text-anchor="middle">concurrent flows (closed loop)</text>`);
  parts.push(`<text transform="translate(18 ${pad.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency, ms</text>`);
  series.forEach((s, k) => {
    const pts = s.points.map((v, i) => `${x(i).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts}"/>`);
    s.points.forEach((v, i) => parts.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(Number.isFinite(v) ? v : 0).toFixed(1)}" r="3" fill="${s.color}"/>`));
    const ly = pad.top + 10 + k * 20;
    parts.push(`<line x1="${W - pad.right + 15}" y1="${ly}" x2="${W - pad.right + 40}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    parts.push(`<text x="${W - pad.right + 46}" y="${ly + 4}">${s.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const exp = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * exp) return m * exp;
  return 10 * exp;
}

/** Writes latest.json, latest.md and latency-vs-concurrency.svg into `dir`; returns the markdown. */
export function writeResults(dir: string, results: BenchResults): { markdown: string; files: string[] } {
  fs.mkdirSync(dir, { recursive: true });
  const md = markdown(results);
  const files = [path.join(dir, 'latest.json'), path.join(dir, 'latest.md'), path.join(dir, 'latency-vs-concurrency.svg')];
  fs.writeFileSync(files[0]!, JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(files[1]!, md);
  fs.writeFileSync(files[2]!, latencySvg(results));
  return { markdown: md, files };
}
