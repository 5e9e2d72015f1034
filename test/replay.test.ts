import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, inject, it } from 'vitest';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import { DeterminismViolationError } from '@temporalio/workflow';
import { createLinkToken } from '../src/tokens';
import { dataConverter } from '../src/codec/data-converter';
import { EncryptionCodec, keyIdOf } from '../src/codec/encryption-codec';
import { payloadsIn } from '../src/codec/history-payloads';
import { parsePayloadKeys, type PayloadKey } from '../src/codec/payload-keys';
import { SKIP_EXPIRED_LINK_MAIL } from '../src/workflows/email-change';
import { CURRENT_SHAPE } from '../src/workflows/messages';
import { FIXTURE_PAYLOAD_KEYS } from './fixtures/histories/fixture-payload-keys';
import { brokenWorkflowBundle } from './helpers/workflow-variant';

/**
 * Replays the recorded histories of representative `emailChange` runs (test/fixtures/histories,
 * written by `npx tsx scripts/record-histories.ts`) against the current workflow code: a change
 * that would break runs already in flight fails here with a DeterminismViolationError. Such a
 * change needs `patched()` / worker versioning, not a re-recording of the fixtures. The histories
 * are stored as the server holds them, encrypted with the fixture key; the replay decrypts them
 * as a worker with that key in PAYLOAD_KEYS would.
 */

// Quiet: the deliberately broken variant below makes the SDK core log a WARN per history.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
} catch {
  // a runtime is already installed in this process; keep it
}

const FIXTURES = path.resolve(__dirname, 'fixtures/histories');
/** Shape-2 fixtures recorded since the patch (issue #15 item 7: a change confirmed by typed codes), so on its new path. */
const RECORDED_WITH_PATCH = ['v2-change-approved-by-codes'];
/** Fixtures of the shape each set was recorded with: v1-* none, v2-* shape 2, v3-* shape 3, the rest the current shape (issue #12: 4). */
const shapeOfFixture = (name: string) => Number(/^v(\d)-/.exec(name)?.[1] ?? CURRENT_SHAPE);
const fixtureKeys = parsePayloadKeys(FIXTURE_PAYLOAD_KEYS) as PayloadKey[];

interface Fixture {
  name: string;
  json: { events: Record<string, any>[] };
}

/** A fixture's JSON with every payload decrypted (payload data is base64 in the JSON, as is the metadata). */
async function decrypted(f: Fixture): Promise<Fixture['json']> {
  const history = structuredClone(f.json);
  const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  const places = payloadsIn(history as unknown).map((place) => {
    const p = place.payload as unknown as { metadata: Record<string, string>; data?: string };
    return { place, proto: { metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, bytes(v)])), data: bytes(p.data ?? '') } };
  });
  const plain = await new EncryptionCodec(fixtureKeys).decode(places.map((p) => p.proto));
  places.forEach(({ place }, i) => {
    const { metadata, data } = plain[i]!;
    place.replace({ metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(data ?? []).toString('base64') } as never);
  });
  return history;
}

const fixtures: Fixture[] = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ name: path.basename(file, '.json'), json: JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')) }));

/**
 * historyFromJSON of @temporalio/common, or the same conversion done with the protobufjs copy that
 * @temporalio/proto is built on: with two copies of protobufjs 8 installed (one under
 * @temporalio/common, one under @temporalio/proto, as in this project), protojson's
 * `instanceof Type` check fails and historyFromJSON (also inside Worker.runReplayHistory when it
 * is handed JSON) throws "type must be a Type".
 */
function loadHistory(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!(err instanceof TypeError) || !err.message.includes('must be a Type')) throw err;
    const protoPath = require.resolve('@temporalio/proto');
    const protojson = createRequire(protoPath)('protobufjs/ext/protojson') as { fromJson(type: unknown, json: unknown): History };
    const root = createRequire(__filename)(protoPath) as Record<string, unknown>; // the CommonJS root, not an ESM namespace
    const type = (patchProtobufRoot(root) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');
    return protojson.fromJson(type, json);
  }
}

/** The history JSON plus every payload in it decoded (payload data is base64 in the JSON). */
function searchableText(json: unknown): string {
  const decoded: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      if (typeof obj.data === 'string' && obj.metadata && typeof obj.metadata === 'object') decoded.push(Buffer.from(obj.data, 'base64').toString('utf8'));
      Object.values(obj).forEach(walk);
    }
  };
  walk(json);
  return [JSON.stringify(json), ...decoded].join('\n');
}

const eventTypes = (f: Fixture) => f.json.events.map((e) => e.eventType as string);
const startInput = (json: Fixture['json']) => {
  const payload = json.events[0]!.workflowExecutionStartedEventAttributes.input.payloads[0];
  return JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as { changeId: string };
};
const replayOptions = { dataConverter: dataConverter(fixtureKeys) };

describe('recorded emailChange histories', () => {
  it('there are at least 5, each a complete emailChange run', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(5);
    for (const f of fixtures) {
      expect(f.json.events[0], f.name).toMatchObject({
        eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
        workflowExecutionStartedEventAttributes: { workflowType: { name: 'emailChange' } },
      });
      expect(eventTypes(f), f.name).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
    }
  });

  it('each is stored encrypted: every payload but the search attributes and the SDK\'s marker metadata names the fixture key', () => {
    for (const f of fixtures) {
      // A marker's details but `result` are written by the SDK core (a patch id; a local activity's type, attempt and times): never encoded.
      const events = f.json.events.map((e) => (e.markerRecordedEventAttributes ? { ...e, markerRecordedEventAttributes: { details: { result: e.markerRecordedEventAttributes.details?.result } } } : e));
      const ids = payloadsIn(events as unknown)
        .filter(({ payload }) => !('type' in (payload.metadata ?? {}))) // search attributes: json/plain Keyword, never encoded
        .map(({ payload }) => keyIdOf({ metadata: Object.fromEntries(Object.entries(payload.metadata!).map(([k, v]) => [k, Buffer.from(v as unknown as string, 'base64')])) }));
      expect(ids.length, f.name).toBeGreaterThan(5);
      expect(new Set(ids), f.name).toEqual(new Set(['fixture']));
    }
  });

  it('no history holds a link token, even decrypted (only hashes reach the workflow)', async () => {
    for (const f of fixtures) {
      const json = await decrypted(f);
      const { changeId } = startInput(json);
      // Every token of a change starts with the same 20 characters: version byte + 14 bytes of its id.
      const prefix = createLinkToken('any-secret-any-secret-any-secret-0000', { changeId, purpose: 'old', expiresAt: Date.now() }).slice(0, 20);
      expect(Buffer.from(prefix, 'base64url').subarray(1).toString('hex')).toBe(changeId.replace(/-/g, '').slice(0, 28));
      expect(searchableText(json), f.name).not.toContain(prefix);
    }
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s replays against the current workflow code', async (name, f) => {
    await expect(Worker.runReplayHistory({ ...replayOptions, workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: name }, loadHistory(f.json))).resolves.toBeUndefined();
  });

  it(`those recorded before patched('${SKIP_EXPIRED_LINK_MAIL}') have no marker and replay with it above (the patch keeps them on the old path); shape-2 ones since carry it; shape 3 follows it without a marker`, () => {
    // A run recorded with the patch holds a core_patch marker naming it (test/replay-gate.test.ts checks a new run's).
    for (const f of fixtures) {
      if (RECORDED_WITH_PATCH.includes(f.name)) expect(searchableText(f.json), f.name).toContain(SKIP_EXPIRED_LINK_MAIL);
      else expect(searchableText(f.json), f.name).not.toContain(SKIP_EXPIRED_LINK_MAIL);
    }
    for (const shape of [1, 2, 3, 4]) expect(fixtures.filter((f) => shapeOfFixture(f.name) === shape).length, `shape ${shape}`).toBeGreaterThanOrEqual(5);
  });

  it('shape 3 and on (issue #12): one local activity and one timer in the first task, no patch marker or TemporalChangeVersion upsert', async () => {
    for (const f of fixtures.filter((x) => shapeOfFixture(x.name) >= 3)) {
      const types = eventTypes(f);
      const firstTask = types.slice(0, types.indexOf('EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED'));
      expect(firstTask.filter((t) => t === 'EVENT_TYPE_MARKER_RECORDED'), f.name).toHaveLength(1);
      expect(firstTask.filter((t) => t === 'EVENT_TYPE_TIMER_STARTED'), f.name).toHaveLength(1);
      expect(types.filter((t) => t === 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES'), f.name).toHaveLength(1); // the outcome only
      const input = JSON.parse(Buffer.from((await decrypted(f)).events[0]!.workflowExecutionStartedEventAttributes.input.payloads[0].data, 'base64').toString('utf8')) as { shape?: number };
      expect(input.shape, f.name).toBe(shapeOfFixture(f.name));
    }
  });

  it("shape 4 (issue #12): a change's two mails go out in one activity (at the start, on a resend), an add's one mail in its own; shape 3 sent one activity per mail", () => {
    const scheduled = (f: Fixture) => f.json.events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType.name as string] : []));
    const firstMails = (f: Fixture) => scheduled(f).filter((name) => name.startsWith('sendVerificationMail')).slice(0, 2);
    for (const f of fixtures.filter((x) => shapeOfFixture(x.name) >= 3)) {
      const change = f.name.includes('change-');
      if (shapeOfFixture(f.name) === 4) expect(firstMails(f)[0], f.name).toBe(change ? 'sendVerificationMails' : 'sendVerificationMail');
      else expect(firstMails(f).slice(0, change ? 2 : 1), f.name).toEqual(change ? ['sendVerificationMail', 'sendVerificationMail'] : ['sendVerificationMail']);
    }
    const changes = fixtures.filter((x) => shapeOfFixture(x.name) === 4 && x.name.includes('change-'));
    expect(changes.length).toBeGreaterThanOrEqual(3);
    // One activity and one workflow task less than the same scenario recorded in shape 3.
    for (const f of changes) {
      const before = fixtures.find((x) => x.name === `v3-${f.name}`);
      if (!before) continue; // recorded since shape 4 only
      const count = (x: Fixture, type: string) => eventTypes(x).filter((t) => t === type).length;
      expect(count(f, 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED'), f.name).toBe(count(before, 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED') - 1);
      expect(count(f, 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED'), f.name).toBe(count(before, 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED') - 1);
    }
    // A change's resend mails both fresh links in one activity too.
    expect(scheduled(fixtures.find((x) => x.name === 'change-resent-approved')!)).toEqual(['sendVerificationMails', 'sendVerificationMails', 'sendChangedNotice']);
  });

  it('a workflow change that breaks running workflows fails the replay of every history', async () => {
    // The current workflow with one step added in front: each recorded run now diverges at its first command.
    const bundle = await brokenWorkflowBundle(fs.mkdtempSync(path.join(inject('tempDir'), 'replay-variant-')));

    const results = Worker.runReplayHistories(
      { ...replayOptions, workflowBundle: { code: bundle.code }, replayName: 'variant' },
      fixtures.map((f) => ({ workflowId: f.name, history: loadHistory(f.json) })),
    );
    const errors: Record<string, unknown> = {};
    for await (const result of results) errors[result.workflowId] = result.error;
    expect(Object.keys(errors).sort()).toEqual(fixtures.map((f) => f.name));
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeInstanceOf(DeterminismViolationError);
  });
});
