/**
 * A static file server for the browser tests, on 127.0.0.1 with a port the
 * system picks: the bundled page from one folder and the reference fixtures
 * (NAME.json, NAME.safetensors, NAME.expected.safetensors only) from another.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
};

const FIXTURE_FILE = /^\/fixtures\/([A-Za-z0-9_.-]+?)(\.json|\.expected\.safetensors|\.safetensors)$/;
const PAGE_FILE = /^\/([A-Za-z0-9_-]+\.(?:html|js|map))$/;

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

export async function startServer(pageDir: string, fixturesDir: string): Promise<StaticServer> {
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    let file: string | null = null;
    let ext = '';
    const fx = FIXTURE_FILE.exec(path);
    const pg = PAGE_FILE.exec(path === '/' ? '/index.html' : path);
    if (fx) {
      file = join(fixturesDir, `${fx[1]}${fx[2]}`);
      ext = fx[2].endsWith('.json') ? '.json' : '.safetensors';
    } else if (pg) {
      file = join(pageDir, pg[1]);
      ext = pg[1].slice(pg[1].lastIndexOf('.'));
    }
    if (!file || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[ext] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
