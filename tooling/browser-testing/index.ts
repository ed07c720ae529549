/**
 * Helpers the browser test suites share (packages/webgpu-tests,
 * apps/playground): finding headless Chromium with a WebGPU adapter
 * (software SwiftShader where the machine has no GPU) and serving files to it.
 * Never downloads a browser: it uses the system's (Debian's `chromium` package
 * in CI), or the one named by TARFLOW_CHROMIUM.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

/** Flags that give headless Chromium a WebGPU adapter on a machine without a GPU. */
export const CHROMIUM_WEBGPU_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
];

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The Chromium executable to use, or null with the places searched. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): { path: string } | { path: null; searched: string[] } {
  const searched = env.TARFLOW_CHROMIUM ? [env.TARFLOW_CHROMIUM] : CANDIDATES;
  const path = searched.find((p) => existsSync(p));
  return path ? { path } : { path: null, searched };
}

/** Why browser tests cannot run here ('' when Chromium was found). */
export function chromiumMissing(env: NodeJS.ProcessEnv = process.env): string {
  const found = findChromium(env);
  if (found.path !== null) return '';
  return `no Chromium found (looked for ${found.searched.join(', ')}; install it with \`apt-get install -y chromium\` or set TARFLOW_CHROMIUM)`;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

export interface StaticServer {
  url: string;
  /** Paths requested so far, with their status. */
  log: Array<{ path: string; status: number }>;
  close(): Promise<void>;
}

/**
 * Serves GET requests on 127.0.0.1 (a port the system picks): `resolve` maps
 * a URL path to the file to send, or null for 404. Nothing is cached.
 */
export async function serveFiles(resolve: (path: string) => string | null, headers: Record<string, string> = {}): Promise<StaticServer> {
  const log: StaticServer['log'] = [];
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    let status = 404;
    try {
      const file = req.method === 'GET' ? resolve(path) : null;
      if (!file) throw new Error('not served');
      const body = await readFile(file);
      status = 200;
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...headers }).end(body);
    } catch {
      res.writeHead(path === '/favicon.ico' ? 204 : 404).end();
    }
    log.push({ path, status });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Serves a folder (index.html for '/'); nothing outside it. */
export function serveDir(root: string, headers: Record<string, string> = {}): Promise<StaticServer> {
  const base = normalize(root + sep);
  return serveFiles((path) => {
    const file = normalize(join(base, path === '/' ? 'index.html' : path));
    return file.startsWith(base) ? file : null;
  }, headers);
}
