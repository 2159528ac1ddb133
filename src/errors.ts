/**
 * A problem with something the user gave us (a file, an option, a stream).
 * The CLI prints `message` as one line and exits 2, without a stack trace,
 * so the message must name the input and say what is wrong with it.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
