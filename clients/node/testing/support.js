// Shared by the tests in ../test/ (kept out of test/: node --test runs every .js file there).
// Test fixtures: a real redis-server on a free loopback port, a real `tempest front` from
// $TEMPEST_BUILD_DIR (default <repo>/build), HTTP and SSE clients, bounded polls. Every
// process started here is killed when the test file ends (after()) or the process exits.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Redis from 'ioredis';

export const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = resolve(clientDir, '..', '..');
export const buildDir = process.env.TEMPEST_BUILD_DIR || join(repoDir, 'build');

const children = new Set();
process.on('exit', () => {
  for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value; throws after timeout ms.
export async function waitFor(fn, what, timeout = 5000, every = 20) {
  const until = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

// Resolves when the child exits (with its code or signal), or rejects after timeout ms.
export function exited(child, timeout = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`process ${child.pid} still running after ${timeout} ms`)), timeout);
    child.once('exit', (code, signal) => { clearTimeout(t); res({ code, signal }); });
  });
}

export async function startRedis(fixedPort) {
  for (let attempt = 0; attempt < 5; ++attempt) {
    const port = fixedPort ?? await freePort();
    const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no'], { stdio: ['ignore', 'ignore', 'inherit'] }));
    const url = `redis://127.0.0.1:${port}/0`;
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error('redis-server exited');
        try {
          if (r.status !== 'ready') await r.connect();
          return (await r.ping()) === 'PONG';
        } catch (e) {
          if (e.message === 'redis-server exited') throw e;
          r.disconnect();
          return false;
        }
      }, 'redis-server to answer PING', 5000);
    } catch (e) {
      r.disconnect();
      child.kill('SIGKILL');
      if (fixedPort) throw e;
      continue;  // the port was taken meanwhile: another one
    }
    return { port, url, client: r, child, stop: () => { r.disconnect(); child.kill('SIGKILL'); } };
  }
  throw new Error('cannot start redis-server');
}

// `tempest front` on free ports; resolves {http, answer, child} from its ready line.
export async function startFront(redisUrl, args = []) {
  const bin = join(buildDir, 'tempest');
  if (!existsSync(bin)) throw new Error(`no ${bin}: set TEMPEST_BUILD_DIR to a Tempest build`);
  const child = track(spawn(bin, ['front', '--listen', '127.0.0.1:0', '--redis', redisUrl, '--log-level', 'warn', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  const line = await new Promise((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error('the front printed no ready line within 5 s')), 5000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) { clearTimeout(t); res(out.slice(0, nl)); }
    });
    child.on('exit', (code) => { clearTimeout(t); rej(new Error(`the front exited (${code}) before its ready line`)); });
  });
  const m = /^ready http=(\S+) answer=(\S+) redis=(\S+) queue=(\S+)/.exec(line);
  if (!m) throw new Error(`unexpected ready line: ${line}`);
  return { http: m[1], answer: m[2].split(',')[0], queue: m[4], child, stop: () => child.kill('SIGKILL') };
}

// redis-server and a front; stop() kills both.
export async function startStack(frontArgs = []) {
  const redis = await startRedis();
  let front;
  try {
    front = await startFront(redis.url, frontArgs);
  } catch (e) {
    redis.stop();
    throw e;
  }
  // The front announces its endpoint before it pushes anything; wait for it anyway, so that a
  // worker's first read of tempest:fronts sees it.
  await waitFor(async () => (await redis.client.zscore('tempest:fronts', front.answer)) !== null, 'the front announcement');
  return { redis, front, redisUrl: redis.url, stop: () => { front.stop(); redis.stop(); } };
}

// One HTTP request, on a connection of its own. Resolves {status, headers, rawHeaders, body (Buffer)}.
export function request(hostPort, path, o = {}) {
  const [host, port] = hostPort.split(':');
  return new Promise((res, rej) => {
    const req = http.request({ host, port: Number(port), path, method: o.method || 'GET', headers: o.headers || {}, agent: false }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode, headers: r.headers, rawHeaders: r.rawHeaders, body: Buffer.concat(chunks) }));
      r.on('error', rej);
    });
    req.setTimeout(o.timeout || 10000, () => req.destroy(new Error(`no answer to ${path} within ${o.timeout || 10000} ms`)));
    req.on('error', rej);
    if (o.signal) o.signal.addEventListener('abort', () => req.destroy(new Error('aborted')));
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

// An event stream: GET path; events() resolves the parsed events so far; close().
export function eventStream(hostPort, path, headers = {}) {
  const [host, port] = hostPort.split(':');
  const s = { text: '', blocks: [], status: 0 };
  s.ready = new Promise((res, rej) => {
    s.req = http.request({ host, port: Number(port), path, headers, agent: false }, (r) => {
      s.status = r.statusCode;
      s.headers = r.headers;
      r.setEncoding('utf8');
      r.on('data', (d) => {
        s.text += d;
        let i;
        while ((i = s.text.indexOf('\n\n')) >= 0) {
          const block = s.text.slice(0, i);
          s.text = s.text.slice(i + 2);
          const ev = {};
          for (const line of block.split('\n')) {
            const c = line.indexOf(':');
            if (c <= 0) continue;
            const k = line.slice(0, c), v = line.slice(c + 1).replace(/^ /, '');
            ev[k] = ev[k] === undefined ? v : `${ev[k]}\n${v}`;
          }
          s.blocks.push(ev);
        }
      });
      r.on('error', () => {});
      res(s);
    });
    s.req.on('error', rej);
    s.req.end();
  });
  s.close = () => s.req.destroy();
  return s;
}

// A fake answer endpoint (the 2012 front announced nothing): records `<action> <id> <json>`
// commands, replies +OK. {address, received: [{action, id, json}], close()}.
export function fakeAnswerEndpoint({ silent = false } = {}) {
  return new Promise((res) => {
    const received = [];
    const sockets = new Set();
    const server = net.createServer((sock) => {
      sockets.add(sock);
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const cmd = parseCommand(buf);
          if (!cmd) break;
          buf = buf.subarray(cmd.end);
          received.push({ action: cmd.args[0], id: cmd.args[1], json: cmd.args[2] });
          if (!silent) sock.write('+OK\r\n');
        }
      });
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => {
      res({
        address: `127.0.0.1:${server.address().port}`,
        received,
        close: () => { for (const s of sockets) s.destroy(); server.close(); },
      });
    });
  });
}

function parseCommand(buf) {
  let at = 0;
  const line = () => {
    const nl = buf.indexOf('\r\n', at);
    if (nl < 0) return null;
    const s = buf.toString('utf8', at, nl);
    at = nl + 2;
    return s;
  };
  const head = line();
  if (head === null) return null;
  const n = Number(head.slice(1));
  const args = [];
  for (let i = 0; i < n; ++i) {
    const l = line();
    if (l === null) return null;
    const len = Number(l.slice(1));
    if (buf.length < at + len + 2) return null;
    args.push(buf.toString('utf8', at, at + len));
    at += len + 2;
  }
  return { args, end: at };
}

// Sends raw bytes as one HTTP request on a connection of its own; resolves {status, headers
// (a list of [lower-case name, value] in order), body (Buffer)} once the response is whole
// (Content-Length, or the connection's end).
export function rawRequest(hostPort, bytes, timeout = 10000) {
  const [host, port] = hostPort.split(':');
  return new Promise((res, rej) => {
    const sock = net.connect({ host, port: Number(port) });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { sock.destroy(); rej(new Error(`no whole response within ${timeout} ms`)); }, timeout);
    const done = (r) => { clearTimeout(t); sock.destroy(); res(r); };
    const parse = (ended) => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return ended ? rej(new Error('the connection closed before a response head')) : undefined;
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers = lines.slice(1).map((l) => {
        const c = l.indexOf(':');
        return [l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()];
      });
      const cl = headers.find(([n]) => n === 'content-length');
      const body = buf.subarray(end + 4);
      if (cl && body.length >= Number(cl[1])) return done({ status, headers, body: body.subarray(0, Number(cl[1])) });
      if (!cl && (ended || status === 204 || status === 304)) return done({ status, headers, body });
      if (ended) rej(new Error('the connection closed before the body'));
    };
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); parse(false); });
    sock.on('end', () => parse(true));
    sock.on('error', rej);
    sock.write(bytes);
  });
}
