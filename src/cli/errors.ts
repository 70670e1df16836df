/** Exit codes of every `selfheal` command (the interface contract). */
export const EXIT = { ok: 0, negative: 1, usage: 2, server: 3 } as const;

/** An error that ends a command with `exitCode`; `message` is printed to stderr as it is. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message);
