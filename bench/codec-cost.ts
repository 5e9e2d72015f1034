/**
 * What the payload codec costs (issue #10): CPU per payload (encode + decode) for the flow's own
 * payloads, and bytes of history per run with and without encryption, with and without deflate;
 * and from those, **per change**: a whole run's history (as Temporal stored it, encrypted) is
 * decoded, its encrypted payloads counted, their encode + decode timed together (CPU of this
 * process, many rounds) and the history's bytes taken as stored, decrypted (what the same run
 * writes without a codec) and re-encrypted with deflate off.
 *
 *   npx tsx bench/codec-cost.ts
 *
 * Standalone, the runs are the recorded ones (test/fixtures/histories, recorded on the dev server
 * with the codec on; per change: add-approved and change-approved-with-old-confirmation). In
 * `npm run bench` (section flows) the per-change figures come from the bench's own completed add
 * and change runs, the same sample the history sizes are read from.
 *
 * Each stored payload is encoded once (by the client or worker that writes it) and decoded once
 * by the side that reads it (the worker for inputs and results, the client for Update results), so
 * "encode + decode of every payload once" is what a change costs; a replay after the worker's
 * cache lost the run decodes its history again, and an operator's UI or CLI reads decode on the
 * codec server: neither is counted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Payload } from '@temporalio/common';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import { EncryptionCodec, keyIdOf } from '../src/codec/encryption-codec';
import { decodeHistoryInPlace, payloadsIn } from '../src/codec/history-payloads';
import { parsePayloadKeys, type PayloadKey } from '../src/codec/payload-keys';
import { FIXTURE_PAYLOAD_KEYS } from '../test/fixtures/histories/fixture-payload-keys';

const FIXTURES = path.resolve(__dirname, '../test/fixtures/histories');
const keys = parsePayloadKeys(FIXTURE_PAYLOAD_KEYS) as PayloadKey[];
const withDeflate = new EncryptionCodec(keys);
const withoutDeflate = new EncryptionCodec(keys, Infinity);

/** historyFromJSON, or the same with @temporalio/proto's protobufjs copy (see test/replay.test.ts). */
function loadHistory(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch {
    const protoPath = require.resolve('@temporalio/proto');
    const protojson = createRequire(protoPath)('protobufjs/ext/protojson') as { fromJson(type: unknown, json: unknown): History };
    const root = createRequire(__filename)(protoPath) as Record<string, unknown>;
    return protojson.fromJson((patchProtobufRoot(root) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History'), json);
  }
}

const historyBytes = (h: History) => temporal.api.history.v1.History.encode(h as temporal.api.history.v1.IHistory).finish().length;
const payloadBytes = (p: Payload) => temporal.api.common.v1.Payload.encode(p).finish().length;

/** CPU µs per payload for encode + decode of every payload in `payloads`, over `rounds` rounds. */
async function cpuPerPayload(codec: EncryptionCodec, payloads: Payload[], rounds: number): Promise<number> {
  for (let i = 0; i < 50; i++) await codec.decode(await codec.encode(payloads)); // warm up
  const before = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await codec.decode(await codec.encode(payloads));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (rounds * payloads.length);
}

/** One run's history measured: its encrypted payloads (decrypted), and its bytes as stored, without a codec, and encrypted with deflate off. */
interface MeasuredRun {
  events: number;
  /** The payloads the codec encrypted (search attributes and the SDK core's marker metadata are never encoded), decrypted. */
  payloads: Payload[];
  bytes: { plain: number; encryptedNoDeflate: number; encrypted: number };
}

/** Measures a copy of `stored` (never changed); throws if a payload names a key that `keys` lacks. */
async function measureRun(stored: History, keys: PayloadKey[], what: string): Promise<MeasuredRun> {
  const history = temporal.api.history.v1.History.decode(temporal.api.history.v1.History.encode(stored as temporal.api.history.v1.IHistory).finish());
  const encrypted = historyBytes(history);
  const ids = payloadsIn(history).map(({ payload }) => keyIdOf(payload));
  const missing = [...new Set(ids)].filter((id) => id !== undefined && !keys.some((k) => k.id === id));
  if (missing.length) throw new Error(`codec cost: ${what} is encrypted with payload key ${missing.join(', ')}, not among the keys given`);
  await decodeHistoryInPlace(history, new EncryptionCodec(keys));
  const plain = historyBytes(history);
  const ours = payloadsIn(history).filter((_, i) => ids[i] !== undefined);
  const payloads = ours.map((p) => p.payload);
  const reencoded = await new EncryptionCodec(keys, Infinity).encode(payloads);
  ours.forEach((place, i) => place.replace(reencoded[i]!));
  return { events: history.events?.length ?? 0, payloads, bytes: { plain, encryptedNoDeflate: historyBytes(history), encrypted } };
}

/** The codec's cost per change of one kind, from whole runs' histories. */
export interface CodecPerChange {
  kind: 'add' | 'change';
  /** `bench`: the bench's own runs (section flows); `recorded`: test/fixtures/histories. */
  source: 'bench' | 'recorded';
  runs: number;
  /** Encrypted payloads in one run's history (mean over the runs). */
  payloads: number;
  /** CPU ms per change to encode + decode each of those payloads once: deflate from 256 B (as shipped), and deflate off. */
  cpuMs: { withDeflate: number; withoutDeflate: number };
  /** Bytes of one run's history (mean): without a codec, encrypted without deflate, encrypted as stored. */
  historyBytes: { plain: number; encryptedNoDeflate: number; encrypted: number };
}

export interface CodecCost {
  payloads: number;
  /** CPU µs per payload, encode + decode: all payloads (deflate from 256 B), and without deflate. */
  cpuUsPerPayload: { withDeflate: number; withoutDeflate: number };
  /** Bytes of the recorded histories: without a codec, encrypted without deflate, as stored. */
  historyBytes: { plain: number; encryptedNoDeflate: number; encrypted: number; runs: number };
  /** Per change, add and change (absent in results written before it was measured). */
  perChange?: CodecPerChange[];
}

/** Whole runs of one kind, their histories as Temporal stored them (payloads encrypted). */
export interface RunSample {
  kind: 'add' | 'change';
  histories: History[];
}

/** The recorded runs that stand for an add and a change when the bench has none of its own. */
const RECORDED_PER_CHANGE: Record<RunSample['kind'], string> = { add: 'add-approved.json', change: 'change-approved-with-old-confirmation.json' };

const recordedSamples = (): RunSample[] =>
  (Object.entries(RECORDED_PER_CHANGE) as [RunSample['kind'], string][]).map(([kind, file]) => ({
    kind,
    histories: [loadHistory(JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')))],
  }));

/**
 * The codec's cost per change of each kind, measured on `samples` (encrypted with `keys`): the
 * histories are copied, never changed. Throws if a payload names a key that `keys` lacks.
 */
export async function codecPerChange(samples: RunSample[], keys: PayloadKey[], source: CodecPerChange['source']): Promise<CodecPerChange[]> {
  const shipped = new EncryptionCodec(keys);
  const noDeflate = new EncryptionCodec(keys, Infinity);
  const out: CodecPerChange[] = [];
  for (const { kind, histories } of samples) {
    if (histories.length === 0) continue;
    const runs: Payload[][] = [];
    const bytes = { plain: 0, encryptedNoDeflate: 0, encrypted: 0 };
    for (const [i, stored] of histories.entries()) {
      const run = await measureRun(stored, keys, `${kind} history ${i + 1}`);
      runs.push(run.payloads);
      for (const k of ['plain', 'encryptedNoDeflate', 'encrypted'] as const) bytes[k] += run.bytes[k];
    }
    const payloads = runs.reduce((n, r) => n + r.length, 0);
    // About 20,000 payloads through each codec, whatever the sample's size.
    const rounds = Math.max(20, Math.ceil(20_000 / payloads));
    const mean = (n: number) => Math.round(n / runs.length);
    out.push({
      kind,
      source,
      runs: runs.length,
      payloads: Math.round((payloads / runs.length) * 10) / 10,
      cpuMs: { withDeflate: await cpuMsPerRun(shipped, runs, rounds), withoutDeflate: await cpuMsPerRun(noDeflate, runs, rounds) },
      historyBytes: { plain: mean(bytes.plain), encryptedNoDeflate: mean(bytes.encryptedNoDeflate), encrypted: mean(bytes.encrypted) },
    });
  }
  return out;
}

/** CPU ms to encode and then decode one run's payloads (each run's as one batch, as a task would), averaged over the runs and `rounds` rounds. */
async function cpuMsPerRun(codec: EncryptionCodec, runs: Payload[][], rounds: number): Promise<number> {
  const once = async () => {
    for (const payloads of runs) await codec.decode(await codec.encode(payloads));
  };
  for (let i = 0; i < Math.min(rounds, 20); i++) await once(); // warm up
  const before = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await once();
  const used = process.cpuUsage(before);
  return Math.round(((used.user + used.system) / 1000 / (rounds * runs.length)) * 1000) / 1000;
}

/**
 * The measurement behind `npx tsx bench/codec-cost.ts`, for `npm run bench`'s report. With `runs`
 * (the bench's own add and change histories, encrypted with `keys`) the per-change figures are
 * theirs; without, the recorded runs'.
 */
export async function codecCost(rounds = 200, live?: { runs: RunSample[]; keys: PayloadKey[] }): Promise<CodecCost> {
  const payloads: Payload[] = [];
  const totals = { plain: 0, encryptedNoDeflate: 0, encrypted: 0, runs: 0 };
  for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) {
    const run = await measureRun(loadHistory(JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8'))), keys, file);
    payloads.push(...run.payloads);
    totals.plain += run.bytes.plain;
    totals.encryptedNoDeflate += run.bytes.encryptedNoDeflate;
    totals.encrypted += run.bytes.encrypted;
    totals.runs++;
  }
  const round1 = (n: number) => Math.round(n * 10) / 10;
  return {
    payloads: payloads.length,
    cpuUsPerPayload: { withDeflate: round1(await cpuPerPayload(withDeflate, payloads, rounds)), withoutDeflate: round1(await cpuPerPayload(withoutDeflate, payloads, rounds)) },
    historyBytes: totals,
    perChange: live?.runs.some((r) => r.histories.length > 0) ? await codecPerChange(live.runs, live.keys, 'bench') : await codecPerChange(recordedSamples(), keys, 'recorded'),
  };
}

async function main(): Promise<void> {
  const plainPayloads: Payload[] = [];
  const rows: string[] = [];
  let totals = { encrypted: 0, plain: 0, noDeflate: 0 };
  for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()) {
    const run = await measureRun(loadHistory(JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8'))), keys, file);
    const { plain, encryptedNoDeflate: noDeflate, encrypted } = run.bytes;
    plainPayloads.push(...run.payloads);
    totals = { encrypted: totals.encrypted + encrypted, plain: totals.plain + plain, noDeflate: totals.noDeflate + noDeflate };
    rows.push(`| ${path.basename(file, '.json')} | ${run.events} | ${run.payloads.length} | ${plain} | ${noDeflate} (${signed(noDeflate - plain)}) | ${encrypted} (${signed(encrypted - plain)}) |`);
  }

  const sizes = plainPayloads.map(payloadBytes).sort((a, b) => a - b);
  const compressible = plainPayloads.filter((p) => payloadBytes(p) >= 256);
  const sealed = await withDeflate.encode(compressible);
  const deflated = sealed.filter((p) => p.metadata?.compression).length;
  const saved = compressible.reduce((n, p, i) => n + payloadBytes(p) - payloadBytes(sealed[i]!), 0);
  const rounds = 400;
  const cpuDeflate = await cpuPerPayload(withDeflate, plainPayloads, rounds);
  const cpuPlain = await cpuPerPayload(withoutDeflate, plainPayloads, rounds);
  const cpuBigDeflate = await cpuPerPayload(withDeflate, compressible, rounds);
  const cpuBigPlain = await cpuPerPayload(withoutDeflate, compressible, rounds);

  console.log(`Payloads of the recorded runs: ${plainPayloads.length}, ${sizes[0]}–${sizes.at(-1)} B (median ${sizes[sizes.length >> 1]} B) serialized, all key "${keyIdOf((await withDeflate.encode([plainPayloads[0]!]))[0]!)}"`);
  console.log(`CPU per payload, encode + decode (${rounds} rounds, node ${process.version}):`);
  console.log(`  all payloads      with deflate ≥256 B: ${cpuDeflate.toFixed(1)} µs   without deflate: ${cpuPlain.toFixed(1)} µs`);
  console.log(`  payloads ≥256 B (${compressible.length})  with deflate: ${cpuBigDeflate.toFixed(1)} µs   without deflate: ${cpuBigPlain.toFixed(1)} µs`);
  console.log(`Deflate: ${deflated}/${compressible.length} payloads ≥256 B shrank; ${saved} B saved over them (${(saved / compressible.length).toFixed(0)} B each)`);
  console.log('');
  console.log('| run | events | encrypted payloads | history bytes, no codec | encrypted, no deflate | encrypted + deflate (as stored) |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  console.log(`| total | | | ${totals.plain} | ${totals.noDeflate} (+${(((totals.noDeflate - totals.plain) / totals.plain) * 100).toFixed(1)} %) | ${totals.encrypted} (+${(((totals.encrypted - totals.plain) / totals.plain) * 100).toFixed(1)} %) |`);

  console.log('');
  console.log(`Per change (${Object.values(RECORDED_PER_CHANGE).join(', ')}: every encrypted payload of the run encoded and decoded once):`);
  console.log('');
  console.log(PER_CHANGE_HEADER);
  console.log('|---|---|---|---|---|---|---|');
  for (const c of await codecPerChange(recordedSamples(), keys, 'recorded')) console.log(perChangeRow(c));
}

const signed = (n: number, digits = 0) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;

export const PER_CHANGE_HEADER = '| flow | payloads per change | codec CPU ms per change | without deflate | history B without codec | with codec (as stored) | with codec, no deflate |';

/** One row under PER_CHANGE_HEADER. */
export function perChangeRow(c: CodecPerChange): string {
  const grown = (n: number) => `${n} (${signed(n - c.historyBytes.plain)} B, ${signed((n - c.historyBytes.plain) / c.historyBytes.plain * 100, 1)} %)`;
  return `| ${c.kind} | ${c.payloads} | ${c.cpuMs.withDeflate.toFixed(2)} | ${c.cpuMs.withoutDeflate.toFixed(2)} | ${c.historyBytes.plain} | ${grown(c.historyBytes.encrypted)} | ${grown(c.historyBytes.encryptedNoDeflate)} |`;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
