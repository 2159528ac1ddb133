import { expect } from 'vitest';
import { InputError } from '../../src/errors.js';

/** Checks that `err` is an InputError whose one-line message names `name` and matches `problem`. */
export function expectInputErrorValue(err: unknown, name: string, problem: RegExp): InputError {
  expect(err).toBeInstanceOf(InputError);
  const msg = (err as InputError).message;
  expect(msg).toContain(name);
  expect(msg).toMatch(problem);
  expect(msg).not.toContain('\n');
  return err as InputError;
}

/** Awaits `promise` and expects it to fail with such an InputError. */
export async function expectInputError(promise: Promise<unknown>, name: string, problem: RegExp): Promise<InputError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  return expectInputErrorValue(caught, name, problem);
}

/** Runs `fn` and expects it to throw such an InputError. */
export function expectInputErrorSync(fn: () => unknown, name: string, problem: RegExp): InputError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  return expectInputErrorValue(caught, name, problem);
}
