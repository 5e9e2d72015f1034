import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * The workflow checks a link itself (R-TOKEN): the API sends SHA-256(token), the "proof", and the
 * workflow compares SHA-256(proof) with the stored verifier. Pure JS, so it runs in the sandbox.
 */
export const verifierOf = (proof: string): string => bytesToHex(sha256(utf8ToBytes(proof)));
