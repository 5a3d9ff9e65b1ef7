/** A problem with an input file: the CLI prints the message as one line and exits non-zero. */
export class InputError extends Error {
  constructor(public readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
  }
}

/** A bad option or argument (unknown method, invalid block size, ...). */
export class UsageError extends Error {}
