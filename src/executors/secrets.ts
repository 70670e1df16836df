import { constants as fsConstants } from 'node:fs';
import { open, readFile, realpath } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { isInside, parseSecretRef, secretRefOutsidePolicy, secretRefPolicyFromEnv, type SecretRefPolicy } from '../domain/secret-refs.js';
import { SecretResolutionError } from './errors.js';

/**
 * Two resolvers, for two kinds of reference:
 *
 * - {@link resolveSecretRef}: references the operator wrote in configuration (`env:JIRA_API_TOKEN`,
 *   `env:SMTP_PASSWORD`, built by src/integrations.ts). Any variable or absolute file; errors say why.
 * - {@link resolveUserSecretRef}: references a rule, job or environment carries (`secretRef`,
 *   `webhookUrlRef`, `keyRef`), written through the API by whoever holds a `write` token. Only inside the
 *   operator's policy (src/domain/secret-refs.ts), re-read from the worker's environment at every call,
 *   with symlinks resolved; every failure has one fixed message, so an API user cannot probe which
 *   variables or files exist.
 *
 * Neither returns or logs anything but the value to its caller; callers must not store or log it.
 */
export async function resolveSecretRef(ref: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const sep = ref.indexOf(':');
  const scheme = sep > 0 ? ref.slice(0, sep) : '';
  const rest = sep > 0 ? ref.slice(sep + 1) : '';
  if (scheme === 'env') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) {
      throw new SecretResolutionError(`secret reference "${ref}": invalid environment variable name`);
    }
    const value = env[rest]?.trim();
    if (value === undefined || value === '') {
      throw new SecretResolutionError(`secret reference "${ref}": environment variable is not set or empty`);
    }
    return value;
  }
  if (scheme === 'file') {
    if (!isAbsolute(rest)) {
      throw new SecretResolutionError(`secret reference "${ref}": file path must be absolute`);
    }
    let content: string;
    try {
      content = await readFile(rest, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new SecretResolutionError(`secret reference "${ref}": cannot read file (${code})`);
    }
    const value = content.trim();
    if (value === '') throw new SecretResolutionError(`secret reference "${ref}": file is empty`);
    return value;
  }
  // The whole reference is not echoed here: a value pasted where a reference belongs must not leak.
  const shown = scheme === '' ? 'no scheme' : `scheme "${scheme.slice(0, 16)}"`;
  throw new SecretResolutionError(`secret reference with ${shown}: unknown scheme (expected env: or file:)`);
}

/** Largest secret file read (keys, tokens, URLs are far smaller); a bigger file counts as unreadable. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** The one message of every failure of {@link resolveUserSecretRef}: outside the policy, missing, empty or unreadable alike. */
export function unavailableSecretMessage(ref: string): string {
  const shown = parseSecretRef(ref) ? `"${ref}"` : '(not a secret reference)';
  return `secret reference ${shown} is not available to this worker: it must name a set variable or a readable file inside the configured secret prefixes or directories (SECRET_REF_ENV_PREFIXES, SECRET_REF_DIRS)`;
}

/**
 * Resolves a reference from a rule, job or environment inside the operator's policy. The policy comes from
 * `policy` when given, else from `env` (SECRET_REF_ENV_PREFIXES, SECRET_REF_DIRS; defaults when unset),
 * the same variables the processes validate at start-up. A `file:` reference must stay inside an allowed
 * directory after every symlink is followed (both sides compared as real paths), be a regular file, and be
 * at most 64 KiB.
 */
export async function resolveUserSecretRef(ref: string, env: NodeJS.ProcessEnv = process.env, policy?: SecretRefPolicy): Promise<string> {
  // No cause is attached either: the reason (ENOENT, EACCES, outside) is exactly what must not show.
  const fail = (): never => {
    throw new SecretResolutionError(unavailableSecretMessage(ref));
  };
  let rules: SecretRefPolicy;
  try {
    rules = policy ?? secretRefPolicyFromEnv(env);
  } catch {
    return fail();
  }
  if (secretRefOutsidePolicy(ref, rules) !== undefined) return fail();
  const parsed = parseSecretRef(ref)!;
  if (parsed.scheme === 'env') {
    const value = env[parsed.name]?.trim();
    return value ? value : fail();
  }
  let real: string;
  try {
    real = await realpath(parsed.path);
  } catch {
    return fail();
  }
  const realDirs = await Promise.all(rules.dirs.map((d) => realpath(d).catch(() => undefined)));
  if (!realDirs.some((d) => d !== undefined && isInside(d, real))) return fail();
  let content: string;
  try {
    // O_NOFOLLOW: the real path has no symlink left; one swapped in since is refused. O_NONBLOCK: a FIFO
    // planted in the directory cannot hang the open (it is refused as not a regular file below).
    const handle = await open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.size > MAX_SECRET_FILE_BYTES) return fail();
      content = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return fail();
  }
  const value = content.trim();
  return value ? value : fail();
}
