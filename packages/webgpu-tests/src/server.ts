/**
 * The browser tests' server: the bundled page from one folder and the
 * reference fixtures (NAME.json, NAME.safetensors, NAME.expected.safetensors
 * only) from another.
 */
import { join } from 'node:path';
import { serveFiles, type StaticServer } from '@tarflow/browser-testing';

export type { StaticServer };

const FIXTURE_FILE = /^\/fixtures\/([A-Za-z0-9_.-]+?)(\.json|\.expected\.safetensors|\.safetensors)$/;
const PAGE_FILE = /^\/([A-Za-z0-9_-]+\.(?:html|js|map))$/;

export function startServer(pageDir: string, fixturesDir: string): Promise<StaticServer> {
  return serveFiles((path) => {
    const fx = FIXTURE_FILE.exec(path);
    if (fx) return join(fixturesDir, `${fx[1]}${fx[2]}`);
    const pg = PAGE_FILE.exec(path === '/' ? '/index.html' : path);
    return pg ? join(pageDir, pg[1]) : null;
  });
}
