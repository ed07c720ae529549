/**
 * The command line of every study: `--name value` options and `--flag`
 * switches (node:util's parseArgs, strict), `--help` printing the usage, and
 * checked numbers. A usage error prints the message and the usage and exits
 * with status 2.
 */
import { parseArgs } from 'node:util';
import { parseBackendPreference, type BackendPreference } from '@tarflow/backends';

export interface StringOption {
  type: 'string';
  /** What the option means, for --help (the default is appended). */
  help: string;
  default?: string;
}

export interface BooleanOption {
  type: 'boolean';
  help: string;
}

export type StudyOption = StringOption | BooleanOption;

/** Parsed values: switches are booleans, options with a default strings, others string | undefined. */
export type StudyValues<O extends Record<string, StudyOption>> = {
  [K in keyof O]: O[K] extends BooleanOption ? boolean : O[K] extends { default: string } ? string : string | undefined;
};

export interface StudySpec<O extends Record<string, StudyOption>> {
  /** The command, e.g. `node --import tsx studies/planner-study.ts --checkpoint FILE [options]`. */
  usage: string;
  /** What the study does, one paragraph. */
  description: string;
  options: O;
  /** Name of the positional arguments for --help (none are accepted without it). */
  positionals?: string;
}

/** The study's command line with its --help text. */
export interface StudyArgs<O extends Record<string, StudyOption>> {
  values: StudyValues<O>;
  positionals: string[];
  /** Prints `message` and the usage, exits with status 2. */
  fail(message: string): never;
  /** `values[name]` as a finite number (integer when `integer`), or fail naming the option. */
  number(name: keyof O & string, integer?: boolean): number;
  /** `values[name]` as a comma-separated list of finite numbers (empty for an unset option). */
  numbers(name: keyof O & string): number[];
  /** `values[name]` (default `backend`) as a backend preference for selectBackend, or fail naming the option. */
  backend(name?: keyof O & string): BackendPreference;
}

function helpText(spec: StudySpec<Record<string, StudyOption>>): string {
  const lines = [`usage: ${spec.usage}`, '', spec.description, '', 'options:'];
  const names = Object.keys(spec.options).map((n) => (spec.options[n].type === 'string' ? `--${n} VALUE` : `--${n}`));
  const width = Math.max(...names.map((n) => n.length), '--help'.length);
  Object.entries(spec.options).forEach(([, o], i) => {
    const def = o.type === 'string' && o.default !== undefined ? ` (default ${o.default})` : '';
    lines.push(`  ${names[i].padEnd(width)}  ${o.help}${def}`);
  });
  lines.push(`  ${'--help'.padEnd(width)}  print this and exit`);
  return lines.join('\n');
}

/** Parses `argv` (default: this process's arguments) by `spec`; --help prints the usage and exits. */
export function studyArgs<O extends Record<string, StudyOption>>(spec: StudySpec<O>, argv: string[] = process.argv.slice(2)): StudyArgs<O> {
  const help = helpText(spec);
  const fail = (message: string): never => {
    console.error(`${message}\n\n${help}`);
    process.exit(2);
  };
  const options: Record<string, { type: 'string' | 'boolean'; default?: string }> = { help: { type: 'boolean' } };
  for (const [name, o] of Object.entries(spec.options)) options[name] = o.type === 'string' && o.default !== undefined ? { type: 'string', default: o.default } : { type: o.type };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: spec.positionals !== undefined, strict: true });
  } catch (e) {
    return fail((e as Error).message);
  }
  if (parsed.values.help) {
    console.log(help);
    process.exit(0);
  }
  const values = {} as Record<string, string | boolean | undefined>;
  for (const [name, o] of Object.entries(spec.options)) values[name] = o.type === 'boolean' ? parsed.values[name] === true : parsed.values[name];
  const toNumber = (name: string, text: string, integer: boolean): number => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) fail(`--${name}: expected ${integer ? 'an integer' : 'a number'}, got '${text}'`);
    return v;
  };
  return {
    values: values as StudyValues<O>,
    positionals: parsed.positionals,
    fail,
    number(name, integer = false) {
      const text = values[name];
      if (typeof text !== 'string') return fail(`--${name} is required`);
      return toNumber(name, text, integer);
    },
    numbers(name) {
      const text = values[name];
      if (typeof text !== 'string' || text === '') return [];
      return text.split(',').map((t) => toNumber(name, t, false));
    },
    backend(name = 'backend') {
      try {
        return parseBackendPreference(String(values[name]));
      } catch (e) {
        return fail(`--${name}: ${(e as Error).message}`);
      }
    },
  };
}
