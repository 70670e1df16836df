// SHA-256 of a text's UTF-8, in hex, by @noble/hashes (audited, pure JavaScript, synchronous): src/domain
// imports no Node built-in (node:crypto), and Web Crypto's digest is asynchronous.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/** The SHA-256 of `text` as UTF-8, 64 lowercase hex digits. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}
