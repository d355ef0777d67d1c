// Real-process fixtures for the JavaScript client tests (the Node twin of tests/support/harness.py).
//
//   const fx = new Fixtures();  t.after(() => fx.cleanup());   // every process dies with the test
//   const redis = await fx.startRedis();          // /usr/bin/redis-server on a free loopback port
//   const front = await fx.startFront(redis, ['--sse-retry', '500ms'], { port });  // ready line
//   front.url, front.httpPort, front.kill()        // SIGKILL, no goodbye
//   const id = await publish(redis, 'demo', 'hello', { event: 'news' });  // tempest publish
//   await redisCommand(redis.port, 'PUBLISH', 'demo', '["live"]');        // a bare message
//   await waitSubscribed(redis, 'demo');          // the front holds SUBSCRIBE demo on Redis
//   const site = await fx.serveStatic(EXAMPLES_BROWSER_DIR);              // site.origin
//   await waitFor(() => condition, { timeout: 5000, message: '...' });
//   new EventSource(url, { fetch: closingFetch })  // close() really closes (see closingFetch)
//
// Binaries come from $TEMPEST_BUILD_DIR (CTest sets it), else <repo>/build. Every wait is bounded.
// If you change the front's ready line, change parseReadyLine here and in harness.py.

import { execFile, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LOOPBACK = '127.0.0.1';
export const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD_DIR = process.env.TEMPEST_BUILD_DIR || path.join(REPO_DIR, 'build');
export const TEMPEST_BIN = path.join(BUILD_DIR, 'tempest');
export const EXAMPLES_BROWSER_DIR = path.join(REPO_DIR, 'examples', 'browser');
export const OUTPUT_DIR = path.join(REPO_DIR, 'tests', 'browser', 'output');
const REDIS_SERVER_BIN = '/usr/bin/redis-server';
const START_TIMEOUT = 10_000;

// Safety net: whatever is still running when node exits (or is told to stop) gets SIGKILL.
const live = new Set();
function killAll() {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls predicate() (sync or async) until it returns a truthy value, which is returned. */
export async function waitFor(predicate, { timeout = 5000, interval = 25, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (e) {
      lastError = e; // a poll may hit a process that is still starting
    }
    if (Date.now() >= deadline) {
      const detail = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${message}${detail}`);
    }
    await sleep(interval);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A RESP client of a few lines: one command per connection, enough for PUBLISH, PUBSUB, INFO.

/** Sends one command to 127.0.0.1:port; resolves with the reply (string, number, array,
 *  null) or rejects with the -ERR line. */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: LOOPBACK, port });
    let buffer = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error(`redis ${args[0]}: no reply in 5 s`)));
    socket.on('error', reject);
    socket.on('connect', () => {
      const parts = args.map((a) => Buffer.from(String(a)));
      socket.write(Buffer.concat([Buffer.from(`*${parts.length}\r\n`),
        ...parts.flatMap((p) => [Buffer.from(`$${p.length}\r\n`), p, Buffer.from('\r\n')])]));
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseResp(buffer, 0);
      if (!parsed) return;
      socket.end();
      if (parsed.value instanceof Error) reject(parsed.value);
      else resolve(parsed.value);
    });
  });
}

// Returns { value, end } or null when buffer holds less than one complete reply.
function parseResp(buffer, start) {
  const eol = buffer.indexOf('\r\n', start);
  if (eol < 0) return null;
  const kind = String.fromCharCode(buffer[start]);
  const line = buffer.toString('utf8', start + 1, eol);
  const next = eol + 2;
  switch (kind) {
    case '+': return { value: line, end: next };
    case '-': return { value: new Error(line), end: next };
    case ':': return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buffer.length < next + n + 2) return null;
      return { value: buffer.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      const items = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buffer, at);
        if (!item) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: n < 0 ? null : items, end: at };
    }
    default: throw new Error(`bad RESP reply ${JSON.stringify(line)}`);
  }
}

/** Subscribers of channel on Redis (PUBSUB NUMSUB): the front holds one per thread. */
export async function numsub(redis, channel) {
  const reply = await redisCommand(redis.port, 'PUBSUB', 'NUMSUB', channel);
  return reply[1];
}

/** Waits until the front has subscribed to channel on Redis, so a PUBLISH reaches it. */
export function waitSubscribed(redis, channel, timeout = 5000) {
  return waitFor(async () => (await numsub(redis, channel)) >= 1,
    { timeout, message: `the front to SUBSCRIBE ${channel}` });
}

// ---------------------------------------------------------------------------------------------
// Processes

/** A child process whose stderr is kept (for failure messages); kill() is idempotent. */
class Child {
  constructor(name, argv, { stdout = 'ignore' } = {}) {
    this.name = name;
    this.argv = argv;
    this.stderr = '';
    this.proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', stdout, 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => {
      live.delete(this.proc);
      resolve(code ?? signal);
    }));
    live.add(this.proc);
    this.proc.stderr.on('data', (chunk) => { this.stderr = (this.stderr + chunk).slice(-8000); });
  }

  alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Sends signal and waits (bounded) for the exit. */
  async stop(signal = 'SIGTERM', timeout = 5000) {
    if (!this.alive()) return;
    this.proc.kill(signal);
    const timer = sleep(timeout).then(() => 'timeout');
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  kill() {
    return this.stop('SIGKILL');
  }
}

export class Redis {
  constructor(child, port, dir) {
    this.child = child;
    this.port = port;
    this.dir = dir;
    this.url = `redis://${LOOPBACK}:${port}/0`;
  }

  stop() {
    return this.child.stop('SIGTERM');
  }
}

export class Front {
  constructor(child, ready) {
    this.child = child;
    this.ready = ready;
    [this.httpHost, this.httpPort] = splitHostPort(ready.http);
    this.answerPort = splitHostPort(ready.answer.split(',')[0])[1];
    this.url = `http://${LOOPBACK}:${this.httpPort}`;
  }

  /** INFO of the answer endpoint as an object (numbers where they are numbers). */
  async info() {
    const text = await redisCommand(this.answerPort, 'INFO');
    const fields = {};
    for (const line of text.split('\r\n')) {
      const [key, value] = line.split(':');
      if (value !== undefined) fields[key] = /^-?\d+$/.test(value) ? Number(value) : value;
    }
    return fields;
  }

  kill() {
    return this.child.kill();
  }

  get stderr() {
    return this.child.stderr;
  }
}

function splitHostPort(address) {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

export function parseReadyLine(line) {
  const fields = {};
  for (const token of line.trim().split(/\s+/).slice(1)) {
    const at = token.indexOf('=');
    fields[token.slice(0, at)] = token.slice(at + 1);
  }
  for (const key of ['http', 'answer', 'redis', 'queue']) {
    if (!(key in fields)) throw new Error(`ready line ${JSON.stringify(line)} lacks ${key}=`);
  }
  return fields;
}

/** Reads stdout until the first line; rejects after timeout or if the process exits first. */
function firstLine(child, timeout) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => fail(`no line on stdout within ${timeout} ms`), timeout);
    const onExit = (code) => fail(`exited (${code}) before printing a line`);
    const onData = (chunk) => {
      text += chunk;
      const eol = text.indexOf('\n');
      if (eol < 0) return;
      clearTimeout(timer);
      child.proc.off('exit', onExit);
      child.proc.stdout.off('data', onData);
      child.proc.stdout.resume(); // keep draining what comes after, so the pipe never fills
      resolve(text.slice(0, eol));
    };
    function fail(why) {
      clearTimeout(timer);
      child.kill();
      reject(new Error(`${child.name}: ${why}; stderr:\n${child.stderr}`));
    }
    child.proc.stdout.on('data', onData);
    child.proc.once('exit', onExit);
  });
}

/** Owns the processes and servers of one test; cleanup() stops all of them. */
export class Fixtures {
  constructor() {
    this.cleanups = [];
    this.children = [];
  }

  /** Stops everything, newest first. Safe to call twice. */
  async cleanup() {
    const cleanups = this.cleanups.reverse();
    this.cleanups = [];
    for (const fn of cleanups) {
      try { await fn(); } catch { /* keep cleaning */ }
    }
  }

  /** The stderr of every process started, for a failure message. */
  logs() {
    return this.children.map((c) => `----- ${c.name} (pid ${c.proc.pid}) -----\n${c.stderr}`).join('\n');
  }

  /** Runs fn at cleanup (before the processes started earlier are stopped). */
  defer(fn) {
    this.cleanups.push(fn);
  }

  track(child) {
    this.children.push(child);
    this.cleanups.push(() => child.kill());
    return child;
  }

  async startRedis() {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'tempest-redis-'));
    this.cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const child = this.track(new Child(`redis-${port}`, [REDIS_SERVER_BIN, '--port', String(port),
      '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no',
      '--loglevel', 'warning']));
    await waitFor(async () => child.alive() && (await redisCommand(port, 'PING')) === 'PONG',
      { timeout: START_TIMEOUT, message: `redis-server on port ${port} to answer PING` });
    return new Redis(child, port, dir);
  }

  /** build/tempest front against redis; port: a fixed HTTP port (default: any free one). */
  async startFront(redis, flags = [], { port = 0 } = {}) {
    const argv = [TEMPEST_BIN, 'front', '--listen', `${LOOPBACK}:${port}`,
      '--answer-listen', `${LOOPBACK}:0`, '--redis', redis.url, ...flags];
    const child = this.track(new Child('front', argv, { stdout: 'pipe' }));
    const line = await firstLine(child, START_TIMEOUT);
    if (!line.startsWith('ready ')) {
      await child.kill();
      throw new Error(`front printed ${JSON.stringify(line)} instead of a ready line; stderr:\n${child.stderr}`);
    }
    return new Front(child, parseReadyLine(line));
  }

  /** A static file server for dir on a free loopback port: { origin, port }. */
  async serveStatic(dir) {
    const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
      '.css': 'text/css; charset=utf-8' };
    const server = http.createServer((req, res) => {
      const name = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const file = path.join(dir, name.endsWith('/') ? `${name}index.html` : name);
      let ok = file.startsWith(dir + path.sep);
      try { ok = ok && statSync(file).isFile(); } catch { ok = false; }
      if (!ok) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream',
        'Cache-Control': 'no-store' });
      createReadStream(file).pipe(res);
    });
    await new Promise((resolve) => server.listen(0, LOOPBACK, resolve));
    this.cleanups.push(() => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }));
    const { port } = server.address();
    return { server, port, origin: `http://${LOOPBACK}:${port}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Publishing

/** `tempest publish --redis URL CHANNEL DATA [--event NAME]`: recorded in the channel's history
 *  and published; resolves with the recorded stream id it prints. */
export function publish(redis, channel, data, { event, history } = {}) {
  const argv = ['publish', '--redis', redis.url, channel, data];
  if (event) argv.push('--event', event);
  if (history) argv.push('--history', String(history));
  return new Promise((resolve, reject) => {
    execFile(TEMPEST_BIN, argv, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`tempest ${argv.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** A bare PUBLISH (live only, never replayed); payload is sent as is. */
export function redisPublish(redis, channel, payload) {
  return redisCommand(redis.port, 'PUBLISH', channel, payload);
}

// ---------------------------------------------------------------------------------------------
// A fetch for the eventsource package whose abort always closes the connection

/** fetch(url, init) over node:http, enough for the npm eventsource package (status, headers,
 *  a web ReadableStream body): aborting init.signal destroys the socket at once, so the front
 *  sees the client leave. Why not the global fetch: Debian 12's Node.js 18 takes fetch from
 *  Debian's undici 5.15, which now and then (about 1 close in 50 in a loop) keeps the TCP
 *  connection of an aborted streaming response open; the front, rightly, then still has the
 *  subscriber, and a test waiting for it to leave times out. */
export function closingFetch(input, init = {}) {
  return new Promise((resolve, reject) => {
    const { signal } = init;
    const abortError = () => new DOMException('The operation was aborted.', 'AbortError');
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const headers = Object.fromEntries(new Headers(init.headers || {}).entries());
    const req = http.request(new URL(String(input)), { method: init.method || 'GET', headers, agent: false });
    let controller;
    const onAbort = () => {
      req.destroy();
      try { controller?.error(abortError()); } catch { /* already closed */ }
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) => {
      signal?.removeEventListener('abort', onAbort);
      try { controller?.error(e); } catch { /* already closed */ }
      reject(e);
    });
    req.on('response', (res) => {
      const body = new ReadableStream({
        start(c) {
          controller = c;
          res.on('data', (chunk) => c.enqueue(new Uint8Array(chunk)));
          res.on('end', () => {
            signal?.removeEventListener('abort', onAbort);
            try { c.close(); } catch { /* errored by an abort */ }
          });
        },
        cancel() { req.destroy(); },
      });
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      resolve({ status: res.statusCode, headers: responseHeaders, body, redirected: false, url: String(input) });
    });
    req.end();
  });
}

/** The cursor of an SSE id as a Map channel -> stream id, in order. */
export function parseCursor(id) {
  return new Map(id.split(',').map((entry) => {
    const at = entry.lastIndexOf('=');
    return [entry.slice(0, at), entry.slice(at + 1)];
  }));
}
