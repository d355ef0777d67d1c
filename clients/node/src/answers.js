// Answer connections: one persistent RESP connection per front answer endpoint (respond_to),
// shared by every lane of the worker, on which `<action> <job id> <json>` commands are
// pipelined and their +OK / -ERR replies matched in order (docs/protocol.md 2.1, 3). A raw
// net.Socket: the endpoint is not a Redis, and a Redis client would send commands of its own.
//
//   const pool = new AnswerPool({password, connectTimeout, timeout, bufferBytes, log, onDropped});
//   const reply = await pool.get('127.0.0.1:7001').send('url', '42', '[200,{},"hi"]');
//   // reply: 'OK', or the error text ('ERR unknown job 42 ...'), or null when dropped
//   pool.close();
//
// States of a client (all transitions here):
//   idle        --send--> connecting: net.connect, AUTH (with a password) and the answers queued
//   connecting  --connected--> open (everything queued is written)
//               --error or not connected within connectTimeout--> down
//   open        --error or peer closed--> reconnect once, resend the unacknowledged answers
//                                         --fails again--> down
//   open        --an answer unacknowledged after timeout (a hung front)--> down
//   open        --more than bufferBytes unacknowledged (one answer alone always goes)--> down
//   down        the queued answers are dropped (resolved null, counted by onDropped; their
//               requests get 504 at the front); 1 s later the next send connects again
// If you change the answer command, change src/front/answer_endpoint.cpp too.
import net from 'node:net';

const downFor = 1000;

// "host:port" or "[v6]:port" -> {host, port}; null when it is not one.
export function splitHostPort(s) {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) || /^([^:]+):(\d+)$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1], port };
}

export function respCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8');
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

// Reads RESP replies from a byte stream; push(chunk) returns the complete replies so far, each
// {ok: boolean, text}: simple strings, errors, integers and bulk strings (arrays are skipped
// as {ok:true, text:''}; the endpoint sends none in answer to url/AUTH).
export class ReplyReader {
  constructor() {
    this.buf = Buffer.alloc(0);
  }

  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out = [];
    for (;;) {
      const r = this.#one(0);
      if (!r) break;
      out.push(r.reply);
      this.buf = this.buf.subarray(r.end);
    }
    return out;
  }

  #one(at) {
    const nl = this.buf.indexOf('\r\n', at);
    if (nl < 0) return null;
    const type = String.fromCharCode(this.buf[at]);
    const line = this.buf.toString('utf8', at + 1, nl);
    const next = nl + 2;
    if (type === '+' || type === ':') return { reply: { ok: true, text: line }, end: next };
    if (type === '-') return { reply: { ok: false, text: line }, end: next };
    if (type === '$') {
      const n = Number(line);
      if (n < 0) return { reply: { ok: true, text: null }, end: next };
      if (this.buf.length < next + n + 2) return null;
      return { reply: { ok: true, text: this.buf.toString('utf8', next, next + n) }, end: next + n + 2 };
    }
    if (type === '*') {
      let end = next;
      for (let i = 0, n = Number(line); i < n; ++i) {
        const r = this.#one(end);
        if (!r) return null;
        end = r.end;
      }
      return { reply: { ok: true, text: '' }, end };
    }
    throw new Error(`not a RESP reply (starts with ${JSON.stringify(type)})`);
  }
}

export class AnswerClient {
  constructor(key, o) {
    this.key = key;
    this.o = o;
    this.addr = splitHostPort(key);
    this.socket = null;
    this.open = false;
    this.queue = [];        // unacknowledged: {frame, resolve, at, auth}
    this.bytes = 0;         // their frames' size
    this.downUntil = 0;
    this.retried = false;   // reconnected once since the last reply
    this.timer = null;
  }

  // Queues the command and writes it as soon as the connection takes it. Resolves with the
  // reply text ('OK' or the error line) or null when dropped (endpoint down or hung).
  send(action, idText, json) {
    return new Promise((resolve) => {
      if (!this.addr) {
        this.o.log('warn', `respond_to '${this.key.slice(0, 100)}' is not host:port; answer dropped`);
        this.o.onDropped(1);
        return resolve(null);
      }
      if (Date.now() < this.downUntil) {
        this.o.onDropped(1);
        return resolve(null);
      }
      const frame = respCommand([action, idText, json]);
      const item = { frame, resolve, at: Date.now(), auth: false };
      if (this.queue.length > 0 && this.bytes + frame.length > this.o.bufferBytes) {
        resolve(null);
        return this.#down(`more than ${this.o.bufferBytes} bytes of answers unacknowledged`, 1);
      }
      this.queue.push(item);
      this.bytes += frame.length;
      this.#arm();
      if (!this.socket) this.#connect();
      else if (this.open) this.socket.write(frame);
    });
  }

  #connect() {
    const { host, port } = this.addr;
    const s = net.connect({ host, port });
    this.socket = s;
    this.open = false;
    this.reader = new ReplyReader();
    s.setNoDelay(true);
    const connectTimer = setTimeout(() => {
      if (this.socket === s && !this.open) this.#down(`no connection within ${this.o.connectTimeout} ms`);
    }, this.o.connectTimeout);
    s.on('connect', () => {
      clearTimeout(connectTimer);
      if (this.socket !== s) return;
      this.open = true;
      const frames = [];
      if (this.o.password) {
        const auth = { frame: respCommand(['AUTH', this.o.password]), resolve: () => {}, at: Date.now(), auth: true };
        this.queue.unshift(auth);
        this.bytes += auth.frame.length;
      }
      for (const item of this.queue) frames.push(item.frame);
      if (frames.length) s.write(Buffer.concat(frames));
    });
    s.on('data', (chunk) => {
      if (this.socket !== s) return;
      let replies;
      try {
        replies = this.reader.push(chunk);
      } catch (e) {
        return this.#lost(e.message);
      }
      for (const r of replies) {
        const item = this.queue.shift();
        if (!item) continue;
        this.bytes -= item.frame.length;
        this.retried = false;
        if (item.auth && !r.ok) this.o.log('error', `answer endpoint ${this.key} refused AUTH: ${r.text}`);
        item.resolve(r.text);
      }
      if (this.queue.length === 0) this.#disarm();
    });
    s.on('error', (e) => {
      clearTimeout(connectTimer);
      if (this.socket === s) this.#lost(e.message);
    });
    s.on('close', () => {
      clearTimeout(connectTimer);
      if (this.socket === s) this.#lost('connection closed');
    });
  }

  // Lost the connection: reconnect once and resend what is unacknowledged, else down.
  #lost(why) {
    const s = this.socket;
    this.socket = null;
    this.open = false;
    if (s) s.destroy();
    this.queue = this.queue.filter((i) => !i.auth);
    this.bytes = this.queue.reduce((n, i) => n + i.frame.length, 0);
    if (this.queue.length === 0) return this.#disarm();
    if (this.retried) return this.#down(why);
    this.retried = true;
    this.#connect();
  }

  #down(why, alreadyDropped = 0) {
    const s = this.socket;
    this.socket = null;
    this.open = false;
    if (s) s.destroy();
    const dropped = this.queue.filter((i) => !i.auth);
    for (const i of dropped) i.resolve(null);
    this.queue = [];
    this.bytes = 0;
    this.retried = false;
    this.#disarm();
    this.downUntil = Date.now() + downFor;
    const n = dropped.length + alreadyDropped;
    if (n) this.o.onDropped(n);
    this.o.log('warn', `answer endpoint ${this.key} is down for ${downFor} ms (${why}); ${n} answer(s) dropped`);
  }

  // Checks the oldest unacknowledged answer's age while there is one.
  #arm() {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const oldest = this.queue[0];
      if (oldest && Date.now() - oldest.at > this.o.timeout) this.#down(`an answer unacknowledged after ${this.o.timeout} ms`);
    }, Math.max(10, Math.min(250, this.o.timeout / 4)));
    this.timer.unref();
  }

  #disarm() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close() {
    this.#disarm();
    const s = this.socket;
    this.socket = null;
    if (s) s.destroy();
    for (const i of this.queue) i.resolve(null);
    this.queue = [];
  }
}

export class AnswerPool {
  constructor(o) {
    this.o = {
      password: '', connectTimeout: 500, timeout: 5000, bufferBytes: 8 << 20,
      log: () => {}, onDropped: () => {}, ...o,
    };
    this.clients = new Map();
  }

  get(respondTo) {
    let c = this.clients.get(respondTo);
    if (!c) {
      c = new AnswerClient(respondTo, this.o);
      this.clients.set(respondTo, c);
    }
    return c;
  }

  close() {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
