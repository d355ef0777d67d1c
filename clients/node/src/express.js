// Runs an existing Express (or Connect, or plain `(req, res) => {}` Node) app as a Tempest
// worker: each "url" job becomes a real http.IncomingMessage and http.ServerResponse over a
// socket that goes nowhere, so the app's middleware, body parsers (express.json,
// express.urlencoded), res.json/send/status/set/cookie/redirect, routers and error handlers
// run as under http.createServer; what the app writes is collected and sent as one answer.
//
//   import express from 'express';
//   import { serveApp } from 'tempest-worker/express';
//   const app = express(); app.get('/', (req, res) => res.send('hi'));
//   await serveApp(app, { queue: 'web', concurrency: 8 }).run();
//
//   // or, on a Worker of your own:  worker.on('url', expressHandler(app));
//
// The request: method, url (the target as received), headers (lower-case, as the front sends
// them: repeated fields joined), httpVersion, the body (content-length set to its size; the
// front has read it whole), socket.remoteAddress/remotePort from the job's remote_addr;
// req.tempest is the Tempest Request (req.tempest.cancelled(), priority, deadline).
// The answer: res.statusCode, every header set (a header set several times, Set-Cookie, goes
// as an array: repeated fields), the bytes written; for HEAD no body.
// Not in the tree yet, so not here: streamed answers (res.write() chunks are collected and go
// together at res.end()), uploads as spooled files, WebSocket upgrades.
import http from 'node:http';
import { Writable } from 'node:stream';
import { Worker } from './worker.js';

// "1.2.3.4:5" / "[::1]:5" -> [address, port, family]
function splitRemote(addr) {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) || /^([^:]+):(\d+)$/.exec(addr);
  if (!m) return [undefined, undefined, undefined];
  return [m[1], Number(m[2]), m[1].includes(':') ? 'IPv6' : 'IPv4'];
}

// The connection the app sees: writes are discarded (the response is collected from res).
class NullSocket extends Writable {
  constructor(remoteAddr) {
    super({ write: (chunk, encoding, cb) => cb() });
    [this.remoteAddress, this.remotePort, this.remoteFamily] = splitRemote(remoteAddr || '');
    // "Open" as far as on-finished (body parsers, finalhandler) can tell, or they take the
    // request as already read; the body itself is already in the IncomingMessage.
    this.readable = true;
    this.encrypted = undefined;
  }
  resume() { return this; }
  pause() { return this; }
  setTimeout() { return this; }
  setNoDelay() { return this; }
  setKeepAlive() { return this; }
  ref() { return this; }
  unref() { return this; }
  address() { return {}; }
}

function toBuffer(chunk, encoding) {
  if (chunk === undefined || chunk === null) return null;
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}

function makeRequest(treq, socket) {
  const im = new http.IncomingMessage(socket);
  im.method = treq.method;
  im.url = treq.url;
  im.httpVersion = treq.httpVersion;
  [im.httpVersionMajor, im.httpVersionMinor] = treq.httpVersion.split('.').map(Number);
  const headers = {};
  const raw = [];
  for (const [name, value] of Object.entries(treq.headers)) {
    if (name === 'transfer-encoding' || name === 'content-length') continue;
    headers[name] = value;
    raw.push(name, value);
  }
  if (treq.body !== null) {
    headers['content-length'] = String(treq.body.length);
    raw.push('content-length', headers['content-length']);
  }
  im.headers = headers;
  im.rawHeaders = raw;
  im.tempest = treq;
  if (treq.body !== null && treq.body.length) im.push(treq.body);
  im.push(null);
  im.complete = true;
  return im;
}

// The response: a real ServerResponse whose write/end (own properties, so they survive
// Express setting the prototype of res) also keep the bytes.
function makeResponse(im, socket) {
  const res = new http.ServerResponse(im);
  res.setHeader('x-tempest-init', '1');  // makes writeHead(status, {headers}) store them too
  res.removeHeader('x-tempest-init');
  res.assignSocket(socket);
  const chunks = [];
  const base = http.ServerResponse.prototype;
  res.write = function write(chunk, encoding, cb) {
    const b = toBuffer(chunk, encoding);
    if (b && b.length) chunks.push(b);
    return base.write.call(this, chunk, encoding, cb);
  };
  res.end = function end(chunk, encoding, cb) {
    if (typeof chunk === 'function') [chunk, encoding, cb] = [undefined, undefined, chunk];
    else if (typeof encoding === 'function') [encoding, cb] = [undefined, encoding];
    if (!this.writableEnded) {
      const b = toBuffer(chunk, encoding);
      if (b && b.length) chunks.push(b);
    }
    return base.end.call(this, chunk, encoding, cb);
  };
  return { res, chunks };
}

function collect(res, chunks, method) {
  const headers = {};
  for (const name of res.getRawHeaderNames()) {
    const v = res.getHeader(name);
    if (v !== undefined) headers[name] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return { status: res.statusCode, headers, body: method === 'HEAD' ? '' : Buffer.concat(chunks) };
}

// A "url" handler that runs app for each request. o.timeout (ms): how long the app may take
// when the job has no deadline (default 30000); past the deadline the promise rejects (the
// front has answered 504 by then).
export function expressHandler(app, o = {}) {
  if (typeof app !== 'function') throw new TypeError('expressHandler(app): app is a function (req, res[, next])');
  return (treq) => new Promise((resolve, reject) => {
    const socket = new NullSocket(treq.remoteAddr);
    const im = makeRequest(treq, socket);
    const { res, chunks } = makeResponse(im, socket);
    const wait = treq.deadline !== null ? Math.max(0, treq.deadline - Date.now()) : o.timeout ?? 30000;
    const timer = setTimeout(() => reject(new Error(`the app did not end the response within ${wait} ms`)), wait);
    timer.unref();
    res.on('finish', () => {
      clearTimeout(timer);
      resolve(collect(res, chunks, treq.method));
    });
    try {
      app(im, res);
    } catch (e) {
      clearTimeout(timer);
      reject(e);
    }
  });
}

// A Worker (options as new Worker(options)) whose "url" jobs run app.
export function serveApp(app, options = {}) {
  const w = new Worker(options);
  w.on('url', expressHandler(app, options));
  return w;
}
