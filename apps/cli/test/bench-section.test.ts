/**
 * One section of the benchmark report written into an existing report
 * (--reference-only, --planning-only): the markdown section and the JSON
 * field replaced together, everything else left as it was, and nothing
 * written when either file cannot take it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSection } from '../src/commands/bench-section.js';
import { CliError } from '../src/errors.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const at = (name: string) => join(tmp.dir, name);

const md = '# Benchmarks\n\n## Backend `wasm`\n\nnumbers\n\n## Planning\n\nold\n\n## Reproduce\n\nhow\n';
const json = `${JSON.stringify({ started: '2026-01-01T00:00:00.000Z', loadavg: [1], results: [{ backend: 'wasm' }] })}\n`;
const section = (name: string) => ({
  out: at(`${name}.md`),
  jsonOut: at(`${name}.json`),
  flag: '--planning-only',
  head: '## Planning',
  text: '## Planning\n\nnew\n',
  update: (report: { planning?: unknown }) => {
    report.planning = { rows: [] };
  },
});

describe('writeSection', () => {
  it('replaces the section in the markdown and the field in its JSON, and nothing else', async () => {
    writeFileSync(at('a.md'), md);
    writeFileSync(at('a.json'), json);
    await writeSection(section('a'));
    expect(readFileSync(at('a.md'), 'utf8')).toBe(md.replace('\nold\n', '\nnew\n'));
    expect(JSON.parse(readFileSync(at('a.json'), 'utf8'))).toEqual({ ...JSON.parse(json), planning: { rows: [] } });
  });

  it('writes the markdown alone where there is no JSON, and a new report only where allowed', async () => {
    writeFileSync(at('b.md'), md);
    await writeSection(section('b'));
    expect(readFileSync(at('b.md'), 'utf8')).toContain('\nnew\n');
    await expect(writeSection(section('c'))).rejects.toThrow(new CliError(`--planning-only: ${at('c.md')} does not exist; run a full \`tarflow bench\` first`));
    await writeSection({ ...section('d'), fresh: '# Benchmarks\n' });
    expect(readFileSync(at('d.md'), 'utf8')).toBe('# Benchmarks\n\n## Planning\n\nnew\n');
  });

  it('writes neither file when the JSON is not a report', async () => {
    writeFileSync(at('e.md'), md);
    writeFileSync(at('e.json'), json.slice(0, 20));
    await expect(writeSection(section('e'))).rejects.toThrow(new CliError(`--planning-only: ${at('e.json')} is not a benchmark report: it is not valid JSON`));
    expect(readFileSync(at('e.md'), 'utf8')).toBe(md);
    expect(readFileSync(at('e.json'), 'utf8')).toBe(json.slice(0, 20));
  });
});
