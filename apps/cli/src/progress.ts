/**
 * A progress bar on stderr for long work: shown when stderr is a terminal,
 * or when --progress asks for it (then also on pipes, redrawn every 2 s);
 * --no-progress hides it. stdout stays clean for --json.
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
  const tty = Boolean(process.stderr.isTTY);
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{label} [{bar}] {value}/{total} {duration_formatted} (eta {eta_formatted}) {status}',
      barsize: 24,
      hideCursor: tty ? true : null,
      noTTYOutput: !tty,
      notTTYSchedule: 2000,
      etaBuffer: 20,
      clearOnComplete: false,
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
