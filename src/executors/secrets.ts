import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { SecretResolutionError } from './errors.js';

/**
 * Resolves a secret reference to its value. Supported forms:
 * - `env:NAME` — the (trimmed) value of environment variable NAME
 * - `file:/abs/path` — the (trimmed) content of a file, e.g. a mounted Kubernetes secret
 *
 * Errors name the reference, never a value. Callers must not store or log the result.
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
