/** Exit codes of every `selfheal` command (the interface contract). */
export const EXIT = { ok: 0, negative: 1, usage: 2, server: 3 } as const;

/**
 * Text in a CliError's message that the CLI did not write: a server's problem title, detail or field
 * error, a PagerDuty API error, a network error's reason. main() prints it as one line (a newline or CR
 * in it shown as `\n` / `\r`, a backslash as `\\`), so it can never add a line of its own to the
 * message; the CLI's own text around it keeps its line breaks.
 */
export class Quoted {
  readonly text: string;
  constructor(text: unknown) {
    this.text = text === null || text === undefined ? '' : String(text);
  }

  toString(): string {
    return this.text;
  }
}

export const quote = (text: unknown) => new Quoted(text);

/** A message in parts: strings the CLI wrote (line breaks kept when printed) and `Quoted` text from elsewhere (one line). */
export type MessagePart = string | Quoted;

/** The parts as plain text, unescaped (what `Error.message` holds). */
export const plainText = (parts: readonly MessagePart[]) => parts.map(String).join('');

/**
 * An error that ends a command with `exitCode`. main() prints its message to stderr: the CLI's own text
 * with its line breaks, each `Quoted` part on its line (see `printError` in ./output.ts). `message` is
 * the same text unescaped.
 */
export class CliError extends Error {
  readonly parts: readonly MessagePart[];

  constructor(
    readonly exitCode: number,
    message: string | readonly MessagePart[],
  ) {
    super(typeof message === 'string' ? message : plainText(message));
    this.name = 'CliError';
    this.parts = typeof message === 'string' ? [message] : [...message];
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message);
