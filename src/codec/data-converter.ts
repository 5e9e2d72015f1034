import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec';
import type { PayloadKey } from './payload-keys';

/**
 * The module the worker's workflow bundle and every client load their failure converter from:
 * failure-converter.ts under tsx and vitest, failure-converter.js once built (vitest's require
 * cannot resolve a .ts file without its extension).
 */
export const FAILURE_CONVERTER_PATH = path.join(__dirname, `failure-converter${path.extname(__filename)}`);

/** What every Temporal client and worker of this service uses: encrypted payloads and failures. */
export function dataConverter(keys: PayloadKey[]): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
