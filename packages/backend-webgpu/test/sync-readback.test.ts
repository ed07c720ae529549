import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hookDawnEventProcessing, isDawnTick, runPendingDawnTicks } from '../src/sync-readback.js';

/** A function shaped like dawn.node's scheduled callbacks: native, anonymous, no parameters. */
function fakeDawnTick(body: () => void): () => void {
  const bound = Function.prototype.bind.call(body, null) as () => void;
  Object.defineProperty(bound, 'name', { value: '' });
  return bound;
}

describe('Dawn event-processing hook', () => {
  it('recognises only anonymous native functions without parameters', () => {
    expect(isDawnTick(fakeDawnTick(() => undefined))).toBe(true);
    expect(isDawnTick(() => undefined)).toBe(false);
    expect(isDawnTick(function named() {})).toBe(false);
    let resolve!: (v: unknown) => void;
    void new Promise((r) => (resolve = r));
    expect(isDawnTick(resolve)).toBe(false); // native, anonymous, but takes a value
    expect(isDawnTick(Math.max)).toBe(false);
  });

  it('keeps Dawn callbacks to run on demand, running each once', async () => {
    hookDawnEventProcessing();
    let runs = 0;
    setImmediate(fakeDawnTick(() => (runs += 1)));
    expect(runPendingDawnTicks()).toBe(1);
    expect(runs).toBe(1);
    await new Promise((r) => setTimeout(r, 5)); // the loop's flush finds nothing left to run
    expect(runs).toBe(1);
    setImmediate(fakeDawnTick(() => (runs += 1)));
    await new Promise((r) => setTimeout(r, 5)); // not run on demand: the loop runs it
    expect(runs).toBe(2);
  });

  it('leaves every other use of setImmediate alone', async () => {
    hookDawnEventProcessing();
    const got = await new Promise((r) => setImmediate((a: number, b: number) => r(a + b), 2, 3));
    expect(got).toBe(5);
    const handle = setImmediate(() => {
      throw new Error('cleared immediates must not run');
    });
    clearImmediate(handle);
    expect(await promisify(setImmediate)('value')).toBe('value');
    expect(runPendingDawnTicks()).toBe(0);
  });
});
