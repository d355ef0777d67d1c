// The shared protocol vectors (<repo>/tests/protocol/, README.md there), read by this client:
//   requests.json  each request sent as its exact bytes to a real front; the Request the
//                  handler sees must match the vector's job (and decoding the vector's job
//                  itself must give the same)
//   answers.json   each answer a client can produce (`returns`) returned from a handler, and
//                  every `wire` text sent as is through this client's answer connection for a
//                  job popped from the queue: the endpoint's reply and the HTTP response must
//                  be the vector's. (Invalid answers are wire-only: this client's encoder never
//                  writes them; it drops bad headers and sends a bad status as 500.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { Worker, Request, decodeJob } from 'tempest-worker';
import { AnswerPool } from '../src/answers.js';
import { rawRequest, repoDir, startStack, waitFor } from '../testing/support.js';

const dir = join(repoDir, 'tests', 'protocol');
const requests = JSON.parse(readFileSync(join(dir, 'requests.json'), 'utf8'));
const answers = JSON.parse(readFileSync(join(dir, 'answers.json'), 'utf8'));

const httpBytes = (v) => (v.http_base64 !== undefined ? Buffer.from(v.http_base64, 'base64') : Buffer.from(v.http, 'utf8'));
const bodyOf = (x) => (x.body_base64 !== undefined ? Buffer.from(x.body_base64, 'base64') : Buffer.from(x.body, 'utf8'));

// What a handler sees of a request, from the vector's request object.
function expected(o) {
  return {
    method: o.method, url: o.url, path: o.path, query: o.query, headers: o.headers,
    body: o.body === undefined ? null : o.body_encoding === 'base64' ? Buffer.from(o.body, 'base64') : Buffer.from(o.body, 'utf8'),
    httpVersion: o.http_version, priority: o.priority, retry: o.retry,
  };
}
const seen = (r) => ({ method: r.method, url: r.url, path: r.path, query: r.query, headers: r.headers, body: r.body,
  httpVersion: r.httpVersion, priority: r.priority, retry: r.retry });

describe('protocol vectors: requests.json', () => {
  let stack, worker, last;
  before(async () => {
    stack = await startStack();
    worker = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false });
    worker.on('url', (req) => { last = req; return 'seen'; });
    await worker.start();
  });
  after(async () => {
    await worker?.stop();
    stack?.stop();
  });

  for (const v of requests.vectors) {
    it(v.name, async () => {
      const job = decodeJob(JSON.stringify(v.job));
      const want = expected(v.job[1][0]);
      assert.deepEqual(seen(new Request(job)), want, 'decoding the vector job');
      last = null;
      const r = await rawRequest(stack.front.http, httpBytes(v));
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'seen');
      assert.ok(last, 'the handler ran');
      assert.deepEqual(seen(last), want);
      assert.equal(last.respondTo, stack.front.answer);
      assert.match(last.remoteAddr, /^127\.0\.0\.1:\d+$/);
      assert.ok(last.deadline > Date.now());
    });
  }
});

describe('protocol vectors: answers.json', () => {
  let stack, worker, current, pool;
  before(async () => {
    stack = await startStack();
    pool = new AnswerPool({});
  });
  after(async () => {
    await worker?.stop();
    pool?.close();
    stack?.stop();
  });

  function checkHttp(r, want) {
    assert.equal(r.status, want.status);
    assert.deepEqual(r.headers.filter(([n]) => n !== 'date'), want.headers);
    assert.deepEqual(r.body, bodyOf(want));
  }

  // Without a worker: the job is popped here and the wire text sent through AnswerPool.
  for (const v of answers.vectors) {
    it(`wire: ${v.name}`, async () => {
      const pending = rawRequest(stack.front.http, Buffer.from(`GET /wire/${v.name} HTTP/1.1\r\nHost: example.test\r\n\r\n`));
      const popped = await waitFor(() => stack.redis.client.lpop('tempest'), 'the job');
      const job = decodeJob(popped);
      const reply = await pool.get(job.respondTo).send('url', String(job.id), v.wire);
      if (v.reply === '+OK') assert.equal(reply, 'OK');
      else assert.ok(reply.startsWith('ERR invalid answer'), `${reply} for ${v.reply}`);
      checkHttp(await pending, v.http);
    });
  }

  for (const v of answers.vectors.filter((x) => x.returns)) {
    it(`returned by a handler: ${v.name}`, async () => {
      if (!worker) {
        worker = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false });
        worker.on('url', () => current);
        await worker.start();
      }
      const x = v.returns;
      current = { status: x.status, headers: x.headers, body: x.body_base64 !== undefined ? Buffer.from(x.body_base64, 'base64') : x.body };
      checkHttp(await rawRequest(stack.front.http, Buffer.from(`GET /returns/${v.name} HTTP/1.1\r\nHost: example.test\r\n\r\n`)), v.http);
    });
  }
});
