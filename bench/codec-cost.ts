/**
 * What the payload codec costs (issue #10): CPU per payload (encode + decode) for the flow's own
 * payloads, and bytes of history per run with and without encryption, with and without deflate.
 *
 *   npx tsx bench/codec-cost.ts
 *
 * The payloads are those of the recorded runs (test/fixtures/histories, recorded on the dev server
 * with the codec on): each history is measured as stored (encrypted), decrypted (what the same run
 * writes without a codec) and re-encrypted with compression off.
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

export interface CodecCost {
  payloads: number;
  /** CPU µs per payload, encode + decode: all payloads (deflate from 256 B), and without deflate. */
  cpuUsPerPayload: { withDeflate: number; withoutDeflate: number };
  /** Bytes of the recorded histories: without a codec, encrypted without deflate, as stored. */
  historyBytes: { plain: number; encryptedNoDeflate: number; encrypted: number; runs: number };
}

/** The measurement behind `npx tsx bench/codec-cost.ts`, for `npm run bench`'s report. */
export async function codecCost(rounds = 200): Promise<CodecCost> {
  const payloads: Payload[] = [];
  const totals = { plain: 0, encryptedNoDeflate: 0, encrypted: 0, runs: 0 };
  for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) {
    const history = loadHistory(JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')));
    totals.encrypted += historyBytes(history);
    await decodeHistoryInPlace(history, withDeflate);
    totals.plain += historyBytes(history);
    const ours = payloadsIn(history).filter(({ payload }) => !payload.metadata?.type);
    payloads.push(...ours.map((p) => p.payload));
    const reencoded = await withoutDeflate.encode(ours.map((p) => p.payload));
    ours.forEach((place, i) => place.replace(reencoded[i]!));
    totals.encryptedNoDeflate += historyBytes(history);
    totals.runs++;
  }
  const round1 = (n: number) => Math.round(n * 10) / 10;
  return {
    payloads: payloads.length,
    cpuUsPerPayload: { withDeflate: round1(await cpuPerPayload(withDeflate, payloads, rounds)), withoutDeflate: round1(await cpuPerPayload(withoutDeflate, payloads, rounds)) },
    historyBytes: totals,
  };
}

async function main(): Promise<void> {
  const plainPayloads: Payload[] = [];
  const rows: string[] = [];
  let totals = { encrypted: 0, plain: 0, noDeflate: 0 };
  for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()) {
    const history = loadHistory(JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')));
    const encrypted = historyBytes(history);
    await decodeHistoryInPlace(history, withDeflate);
    const plain = historyBytes(history);
    const ours = payloadsIn(history).filter(({ payload }) => !payload.metadata?.type); // search attributes are never encoded
    plainPayloads.push(...ours.map((p) => p.payload));
    const reencoded = await withoutDeflate.encode(ours.map((p) => p.payload));
    ours.forEach((place, i) => place.replace(reencoded[i]!));
    const noDeflate = historyBytes(history);
    totals = { encrypted: totals.encrypted + encrypted, plain: totals.plain + plain, noDeflate: totals.noDeflate + noDeflate };
    rows.push(`| ${path.basename(file, '.json')} | ${history.events?.length} | ${ours.length} | ${plain} | ${noDeflate} (+${noDeflate - plain}) | ${encrypted} (+${encrypted - plain}) |`);
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
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
