// Reliable delivery across processes (docs/protocol.md section 9) and the hello example:
// a worker SIGKILLed while holding a job -> the reaper of another worker re-queues it (retry
// safe) or answers 502 (not safe to retry); hello.js answers, and stops cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'tempest-worker';
import { clientDir, exited, request, startStack, track, waitFor } from '../testing/support.js';

let stack;

// A node program of this package with the stack's Redis; lines: what it printed so far.
function spawnNode(script, args = []) {
  const child = track(spawn(process.execPath, [join(clientDir, script), '--redis', stack.redisUrl, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: clientDir }));
  child.lines = [];
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      child.lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  return child;
}

describe('reliable delivery', () => {
  before(async () => {
    stack = await startStack();
  });
  after(() => stack?.stop());

  it('re-delivers a retry-safe job held by a SIGKILLed worker, answers 502 for an unsafe one', async () => {
    const stuck = spawnNode('testing/stuck_worker.js', ['--heartbeat-ttl', '600', '--concurrency', '2']);
    await waitFor(() => stuck.lines.includes('ready'), 'the stuck worker');
    const get = request(stack.front.http, '/again');                      // GET: retry-safe
    const post = request(stack.front.http, '/pay', { method: 'POST', body: 'x' });  // POST: not
    await waitFor(() => stuck.lines.includes('started /again') && stuck.lines.includes('started /pay'), 'both jobs held');
    const held = await stack.redis.client.keys('tempest:processing:*');
    assert.equal(held.length, 2);
    stuck.kill('SIGKILL');
    await exited(stuck);

    const t0 = Date.now();
    const seen = [];
    const w = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false, heartbeatTtl: 600 });
    w.on('url', (req) => { seen.push(req.path); return `served ${req.path} again`; });
    await w.start();
    try {
      const [g, p] = await Promise.all([get, post]);
      assert.equal(g.status, 200);
      assert.equal(g.body.toString(), 'served /again again');
      assert.equal(p.status, 502);
      assert.equal(p.body.toString(), 'the worker handling this request died; it is not safe to retry');
      assert.deepEqual(seen, ['/again']);
      assert.ok(Date.now() - t0 < 3000, `re-delivered after ${Date.now() - t0} ms`);
      assert.deepEqual(await stack.redis.client.keys('tempest:processing:*'), []);
      assert.deepEqual(await stack.redis.client.smembers('tempest:workers'), w.ids);
    } finally {
      await w.stop();
    }
  });

  it('dead-letters a job that has killed max-attempts workers', async () => {
    // A dead worker's batch as take.lua writes it, its job already held by 2 dead workers.
    const r = stack.redis.client;
    const job = JSON.stringify(['url', [{ method: 'GET', url: '/poison', path: '/poison', query: '', headers: {}, retry: true }], stack.front.answer, 77]);
    await r.rpush('tempest:processing:gone:1:0', '\0tempest\nnormal', job);
    await r.sadd('tempest:workers', 'gone:1:0');
    await r.hset('tempest:attempts', `${stack.front.answer}/77`, 2);
    const w = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false, heartbeatTtl: 600, maxAttempts: 3 });
    let ran = 0;
    w.on('url', () => { ++ran; return 'x'; });
    await w.start();
    try {
      await waitFor(async () => (await r.llen('tempest:dead')) === 1, 'the dead letter');
      const rec = JSON.parse(await r.lindex('tempest:dead', 0));
      assert.equal(rec.job, job);
      assert.equal(rec.queue, 'tempest');
      assert.equal(rec.priority, 'normal');
      assert.equal(rec.attempts, 3);
      assert.equal(rec.worker, 'gone:1:0');
      assert.equal(ran, 0);
      assert.equal(await r.sismember('tempest:workers', 'gone:1:0'), 0);
      assert.equal(await r.exists('tempest:processing:gone:1:0'), 0);
    } finally {
      await w.stop();
      await r.del('tempest:dead', 'tempest:attempts');
    }
  });

  it('examples/hello.js answers Hello world! and stops cleanly on SIGTERM', async () => {
    const hello = spawnNode('examples/hello.js', ['--queue', 'tempest', '--mode', 'reliable', '--concurrency', '2']);
    try {
      await waitFor(async () => (await stack.redis.client.scard('tempest:workers')) === 2, 'hello.js registered');
      const rs = await Promise.all([1, 2, 3].map(() => request(stack.front.http, '/')));
      for (const r of rs) {
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'Hello world!');
        assert.equal(r.headers['content-type'], 'text/plain');
        assert.equal(r.headers['x-worker'], 'node');
      }
      hello.kill('SIGTERM');
      assert.deepEqual(await exited(hello, 5000), { code: 0, signal: null });
      assert.equal(await stack.redis.client.scard('tempest:workers'), 0);
      assert.deepEqual(await stack.redis.client.keys('tempest:worker*'), []);
    } finally {
      hello.kill('SIGKILL');
    }
  });

  it('examples/express.js serves an app module', async () => {
    const gw = spawnNode('examples/express.js', ['testing/express_app.mjs', '--queue', 'tempest', '--mode', 'plain']);
    try {
      const r = await waitFor(async () => {
        const x = await request(stack.front.http, '/', { timeout: 2000 }).catch(() => null);
        return x && x.status === 200 ? x : null;
      }, 'the gateway to answer', 10000, 50);
      assert.equal(r.body.toString(), 'Hello from Express');
      const f = await request(stack.front.http, '/form', { method: 'POST', body: 'a=1&b=%C3%BC',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      assert.deepEqual(JSON.parse(f.body), { a: '1', b: 'ü' });
      gw.kill('SIGTERM');
      assert.equal((await exited(gw, 5000)).code, 0);
    } finally {
      gw.kill('SIGKILL');
    }
    const bad = spawnNode('examples/express.js', ['testing/express_app.mjs:nope']);
    assert.equal((await exited(bad)).code, 2);
  });

  it('examples/hello.js --help and a bad flag', async () => {
    const help = spawnNode('examples/hello.js', ['--help']);
    assert.equal((await exited(help)).code, 0);
    assert.ok(help.lines.some((l) => l.includes('--concurrency')));
    const bad = track(spawn(process.execPath, [join(clientDir, 'examples/hello.js'), '--mode', 'sideways'], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let err = '';
    bad.stderr.on('data', (d) => { err += d; });
    assert.equal((await exited(bad)).code, 2);
    assert.match(err, /--mode: reliable or plain/);
  });
});
