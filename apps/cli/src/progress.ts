/**
 * A progress bar on stderr for long work: shown when stderr is a terminal,
 * or when --progress asks for it (on a pipe or file it prints a line at most
 * every 2 s instead of redrawing); --no-progress hides it. stdout stays clean
 * for --json.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Starts (or restarts) the bar with a label and a total. */
  start(label: string, total: number): void;
  /** Advances by `n` units, with an optional status text. */
  increment(n?: number, status?: string): void;
  /** Sets the status text without advancing. */
  status(text: string): void;
  stop(): void;
}

/** Whether to show a bar: the --progress / --no-progress flag, else whether stderr is a terminal. */
export function progressEnabled(flag: boolean | undefined): boolean {
  return flag ?? Boolean(process.stderr.isTTY);
}

const silent: Progress = { start() {}, increment() {}, status() {}, stop() {} };

export function createProgress(enabled: boolean): Progress {
  if (!enabled) return silent;
  return process.stderr.isTTY ? terminalBar() : progressLines();
}

/** A redrawn bar (cli-progress). The work is synchronous, so it redraws on updates rather than on a timer. */
function terminalBar(): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{label} [{bar}] {value}/{total} {duration_formatted} (eta {eta_formatted}) {status}',
      barsize: 24,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  return {
    start(label, total) {
      if (running) bar.stop();
      bar.start(Math.max(total, 1), 0, { label, status: '' });
      running = true;
    },
    increment(n = 1, status) {
      if (running) bar.increment(n, status === undefined ? undefined : { status });
    },
    status(text) {
      if (running) bar.update({ status: text });
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

/** One line per change, at most every 2 s (and at the end), for logs. */
function progressLines(): Progress {
  let label = '';
  let total = 1;
  let value = 0;
  let status = '';
  let started = 0;
  let last = 0;
  let running = false;
  const print = (force: boolean) => {
    const now = Date.now();
    if (!force && now - last < 2000) return;
    last = now;
    const width = 24;
    const done = Math.round((Math.min(value, total) / total) * width);
    const secs = Math.round((now - started) / 1000);
    process.stderr.write(`${label} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${value}/${total} ${secs}s ${status}\n`);
  };
  return {
    start(l, t) {
      label = l;
      total = Math.max(t, 1);
      value = 0;
      status = '';
      started = Date.now();
      running = true;
      print(true);
    },
    increment(n = 1, s) {
      if (!running) return;
      value += n;
      if (s !== undefined) status = s;
      print(value >= total);
    },
    status(text) {
      if (!running) return;
      status = text;
      print(false);
    },
    stop() {
      if (running && value < total) print(true);
      running = false;
    },
  };
}
