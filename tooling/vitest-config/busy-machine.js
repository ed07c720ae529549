// Keeps a test file alive on a busy machine. A test that runs synchronous tfjs
// work holds the worker's event loop; a progress report the worker sent to
// vitest just before ("onTaskUpdate") is then acknowledged only when the work
// ends. vitest's worker gives up on an unacknowledged call after 60 s and fails
// the file with "[vitest-worker]: Timeout calling onTaskUpdate", even though
// the report was delivered (the main process handles it whatever the worker
// does). Here a late acknowledgement of a progress report counts as delivered;
// every other call, and every other error, is left as it is.
//
// The worker reads its RPC client from its state object on every call, so the
// client is wrapped once per worker. Tied to vitest 3's worker internals: when
// they change (no state, no client), this does nothing.
const state = globalThis.__vitest_worker__;
const LATE_REPORT = /Timeout calling "onTaskUpdate"/;
// Marks a wrapped client (vitest's client answers every property name, so the mark lives beside it).
const WRAPPED = Symbol.for('tarflow.lateReports');

if (state?.rpc && state[WRAPPED] !== state.rpc) {
  const client = state.rpc;
  state.rpc = new Proxy(client, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key !== 'onTaskUpdate' || typeof value !== 'function') return value;
      const wrapped = (...args) =>
        Promise.resolve(value(...args)).catch((e) => {
          if (e instanceof Error && LATE_REPORT.test(e.message)) return undefined;
          throw e;
        });
      wrapped.asEvent = value.asEvent;
      return wrapped;
    },
  });
  state[WRAPPED] = state.rpc;
}
