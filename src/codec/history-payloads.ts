import type { Payload, PayloadCodec } from '@temporalio/common';

/** A Payload as it appears in a fetched history (bytes) or in its JSON form (base64 strings). */
const isPayload = (value: object): value is Payload =>
  'metadata' in value &&
  typeof value.metadata === 'object' &&
  value.metadata !== null &&
  (!('data' in value) || value.data == null || value.data instanceof Uint8Array || typeof value.data === 'string');

/**
 * Every Payload in a fetched history (or any part of one, or its JSON form): inputs, results,
 * failure attributes, update arguments, headers, memo and search attributes, each with its place,
 * so it can be replaced.
 */
export function payloadsIn(value: unknown): { payload: Payload; replace(by: Payload): void }[] {
  const found: { payload: Payload; replace(by: Payload): void }[] = [];
  const walk = (node: unknown, replace: (by: Payload) => void): void => {
    if (!node || typeof node !== 'object' || node instanceof Uint8Array || typeof (node as { toNumber?: unknown }).toNumber === 'function') return;
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, (by) => (node[i] = by)));
    if (isPayload(node)) return void found.push({ payload: node, replace });
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) walk(record[key], (by) => (record[key] = by));
  };
  walk(value, () => {
    throw new Error('payloadsIn: the value itself is a payload');
  });
  return found;
}

/** Decodes every payload of a fetched history in place (throws if one names a key the codec lacks); returns it. */
export async function decodeHistoryInPlace<T>(history: T, codec: PayloadCodec): Promise<T> {
  const places = payloadsIn(history);
  const decoded = await codec.decode(places.map((p) => p.payload));
  places.forEach((place, i) => place.replace(decoded[i]!));
  return history;
}
