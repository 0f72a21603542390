/** Errors shown to the user as one line (no stack trace). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

/** The first line of an error's message, for a one-line report. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n').map((s) => s.trim()).filter(Boolean)[0] ?? 'unknown error';
  return line.length > 400 ? `${line.slice(0, 400)}...` : line;
}
