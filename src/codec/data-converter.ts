import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec';
import type { PayloadKey } from './payload-keys';

/** The module the worker's workflow bundle and every client load their failure converter from. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** What every Temporal client and worker of this service uses: encrypted payloads and failures. */
export function dataConverter(keys: PayloadKey[]): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
