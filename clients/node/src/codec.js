// The wire format as a worker sees it (docs/protocol.md sections 1 and 2): decoding jobs,
// building the request object handlers get, encoding answers. Pure: no I/O.
//
//   const job = decodeJob(payload);          // {action, args, respondTo, id, payload} or throws
//   const req = new Request(job, probe);     // a "url" job's request (handlers' argument)
//   encodeUrlAnswer(result)                  // -> {json, dropped}: '[status,{headers},body]'
//   deadlinePassed(job, Date.now())
//
// Jobs in the 2012 format (../shared/ORIGINAL-PROTOCOL.md: method, url, headers, body only)
// decode too: path and query are then derived from url.
// If you change the answer layout, change src/front/answer.cpp (the front's decoder) too; the
// C++ library's equivalent is src/worker/job_codec.cpp.
import { isUtf8 } from 'node:buffer';

// A job [action, args, respond_to, job_id]; throws an Error saying what is wrong.
export function decodeJob(payload) {
  let v;
  try {
    v = JSON.parse(payload);
  } catch (e) {
    throw new Error(`not JSON (${e.message})`);
  }
  if (!Array.isArray(v) || v.length < 4) throw new Error('a job is a JSON array [action, args, respond_to, job_id]');
  const [action, args, respondTo, id] = v;
  if (typeof action !== 'string' || action === '') throw new Error('the action (item 0) is not a non-empty string');
  if (!Array.isArray(args)) throw new Error('the args (item 1) are not an array');
  if (respondTo !== null && typeof respondTo !== 'string') throw new Error('respond_to (item 2) is neither a string nor null');
  if (!Number.isSafeInteger(id)) throw new Error('the job id (item 3) is not an integer');
  return { action, args, respondTo: respondTo || '', id, payload };
}

// The "<respond_to>/<job id>" field of tempest:cancelled and <queue>:attempts.
export function cancelField(job) {
  return `${job.respondTo}/${job.id}`;
}

// True when a "url" job carries a "deadline" (unix ms) before nowMs: nobody waits any more.
export function deadlinePassed(job, nowMs) {
  if (job.action !== 'url') return false;
  const r = job.args[0];
  return r !== null && typeof r === 'object' && typeof r.deadline === 'number' && r.deadline < nowMs;
}

// The HTTP request of a "url" job, as a handler sees it. Fields (docs/protocol.md 1.3, 8.4):
//   method, url (the target as received), path (normalised), query, headers (lower-case names),
//   body (a Buffer, or null when the request had none), remoteAddr, httpVersion,
//   priority ('high'|'normal'|'low'), deadline (unix ms or null), retry (boolean or null),
//   jobId, respondTo; signal (an AbortSignal aborted at the deadline)
export class Request {
  constructor(job, probe) {
    const o = job.args[0];
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error('the args of a url job are not [ {request object} ]');
    for (const k of ['method', 'url', 'path', 'query', 'body', 'remote_addr', 'http_version'])
      if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') throw new Error(`the request field ${k} is not a string`);
    if (!o.method) throw new Error('the request has no method');
    if (!o.url) throw new Error('the request has no url');
    if (o.headers !== undefined && (o.headers === null || typeof o.headers !== 'object' || Array.isArray(o.headers)))
      throw new Error('headers is not an object');
    this.method = o.method;
    this.url = o.url;
    const q = o.url.indexOf('?');
    this.path = typeof o.path === 'string' ? o.path : q < 0 ? o.url : o.url.slice(0, q);  // 2012 jobs: from url
    this.query = typeof o.query === 'string' ? o.query : q < 0 ? '' : o.url.slice(q + 1);
    this.headers = {};
    for (const [name, value] of Object.entries(o.headers || {}))
      if (typeof value === 'string') this.headers[name.toLowerCase()] = value;
    if (typeof o.body === 'string') {
      if (o.body_encoding === 'base64') this.body = Buffer.from(o.body, 'base64');
      else if (o.body_encoding === undefined || o.body_encoding === null) this.body = Buffer.from(o.body, 'utf8');
      else throw new Error('unknown body_encoding (only "base64")');
    } else {
      this.body = null;
    }
    this.remoteAddr = o.remote_addr || '';
    this.httpVersion = o.http_version || '1.1';
    this.priority = o.priority || 'normal';
    this.deadline = typeof o.deadline === 'number' ? o.deadline : null;
    this.retry = typeof o.retry === 'boolean' ? o.retry : null;
    this.jobId = job.id;
    this.respondTo = job.respondTo;
    this.job = job;
    Object.defineProperty(this, 'probe', { value: probe, enumerable: false });
  }

  // A header's value ('' when absent); names compare case-insensitively.
  header(name) {
    return this.headers[name.toLowerCase()] ?? '';
  }

  // The first query parameter of that name, decoded ('+' is a space); null when absent.
  queryParam(name) {
    return new URLSearchParams(this.query).get(name);
  }

  // The body as UTF-8 text ('' when none), or parsed as JSON.
  text() {
    return this.body ? this.body.toString('utf8') : '';
  }

  json() {
    return JSON.parse(this.text());
  }

  // An AbortSignal that aborts at the deadline (for fetch, timers, streams: work nobody waits
  // for stops by itself); never aborts when the job has none. Made on first use.
  get signal() {
    if (!this._signal) {
      const s = this.deadline === null ? new AbortController().signal : AbortSignal.timeout(Math.max(0, this.deadline - Date.now()));
      Object.defineProperty(this, '_signal', { value: s, enumerable: false });
    }
    return this._signal;
  }

  // True when nobody waits for the answer any more: the deadline passed, or the front cancelled
  // the job (the client went away: HEXISTS tempest:cancelled <respond_to>/<id>, one round trip;
  // docs/protocol.md 8.5). Call it between steps of long work, not in a tight loop.
  async cancelled() {
    if (this.deadline !== null && Date.now() > this.deadline) return true;
    if (!this.respondTo || !this.probe) return false;
    return this.probe(this.job);
  }
}

// RFC 9110 token (a header name).
const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// No control character but HTAB, no DEL (docs/protocol.md 2.2).
// eslint-disable-next-line no-control-regex
const badValueRe = /[\x00-\x08\x0a-\x1f\x7f]/;

// Lone surrogates (which JSON.stringify would write as \udXXX escapes) become U+FFFD.
function wellFormed(s) {
  return typeof s.toWellFormed === 'function' ? s.toWellFormed() : Buffer.from(s, 'utf8').toString('utf8');
}

function encodeBody(body) {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return wellFormed(body);
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return isUtf8(b) ? b.toString('utf8') : { base64: b.toString('base64') };
  }
  if (body instanceof ArrayBuffer) return encodeBody(Buffer.from(body));
  throw new TypeError(`a body is a string, a Buffer or null, not ${typeof body}`);
}

// Headers as the answer carries them: name -> string, or an array for a name given several
// times (also case-insensitively: {'Set-Cookie': [...], 'set-cookie': 'x'} become one array).
// Numbers are sent as their decimal text. Invalid names or values are dropped and counted.
function encodeHeaders(headers) {
  const out = {};
  const names = new Map();  // lower-case -> the name used in out
  let dropped = 0;
  const entries = headers instanceof Map ? [...headers] : Array.isArray(headers) ? headers : Object.entries(headers || {});
  for (const [name, value] of entries) {
    if (value === undefined || value === null) continue;
    const values = Array.isArray(value) ? value : [value];
    if (!tokenRe.test(name)) { dropped += values.length; continue; }
    for (let v of values) {
      if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
      if (typeof v !== 'string' || badValueRe.test(v)) { ++dropped; continue; }
      v = wellFormed(v);
      const lower = name.toLowerCase();
      const key = names.get(lower);
      if (key === undefined) { names.set(lower, name); out[name] = v; }
      else if (Array.isArray(out[key])) out[key].push(v);
      else out[key] = [out[key], v];
    }
  }
  return { headers: out, dropped };
}

// What a "url" handler returned -> the answer JSON text [status, headers, body]. Accepted:
//   {status, headers, body}  (status defaults to 200, headers to {}, body to '')
//   [status, headers, body]  (the wire layout itself)
//   a string                 200, text/plain; charset=utf-8
//   a Buffer / Uint8Array    200, application/octet-stream
//   undefined or null        200, empty body
// A body that is a plain object or array (in the object form) is sent as JSON with
// content-type application/json unless a content-type is given. A status outside 200..599 is
// sent as 500 (what the front accepts); headers that break 2.2 are dropped (`dropped` says how
// many). Throws TypeError for anything else.
export function encodeUrlAnswer(result) {
  let status = 200, headers = {}, body = '';
  if (result === undefined || result === null) {
    // 200, nothing
  } else if (typeof result === 'string') {
    headers = { 'content-type': 'text/plain; charset=utf-8' };
    body = result;
  } else if (Buffer.isBuffer(result) || result instanceof Uint8Array) {
    headers = { 'content-type': 'application/octet-stream' };
    body = result;
  } else if (Array.isArray(result)) {
    [status = 200, headers = {}, body = ''] = result;
  } else if (typeof result === 'object') {
    status = result.status ?? 200;
    headers = result.headers ?? {};
    body = result.body ?? '';
    if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body) && !(body instanceof Uint8Array) &&
        !(body instanceof ArrayBuffer)) {
      body = JSON.stringify(body);
      const has = Object.keys(headers instanceof Map ? Object.fromEntries(headers) : headers)
        .some((n) => n.toLowerCase() === 'content-type');
      if (!has) headers = { ...headers, 'content-type': 'application/json; charset=utf-8' };
    }
  } else {
    throw new TypeError(`a url handler returns {status, headers, body}, [status, headers, body], a string or a Buffer, not ${typeof result}`);
  }
  if (typeof status === 'string' && /^[0-9]{3}$/.test(status)) status = Number(status);
  let badStatus = false;
  if (!Number.isInteger(status) || status < 200 || status > 599) { badStatus = true; status = 500; }
  const h = encodeHeaders(headers);
  return { json: JSON.stringify([status, h.headers, encodeBody(body)]), dropped: h.dropped, badStatus };
}

// The answer for a "url" job when the handler failed or the job could not be read.
export function errorAnswer(status, text) {
  return JSON.stringify([status, { 'content-type': 'text/plain' }, `${text}\n`]);
}

// The answer of a non-url job: any JSON value.
export function encodeValue(value) {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('the answer is not JSON-serialisable');
  return json;
}
