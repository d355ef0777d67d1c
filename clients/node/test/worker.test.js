// The Worker against a real redis-server and a real front: round trips, answer shapes,
// concurrency, priorities, deadlines, cancellation, trust, original-format jobs, plain mode,
// publish with history.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import { Publisher, Worker } from 'tempest-worker';
import { eventStream, fakeAnswerEndpoint, request, sleep, startFront, startStack, waitFor } from '../testing/support.js';

let stack;

// A started worker on the stack's Redis; stopped after fn.
async function withWorker(options, setup, fn) {
  const w = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false, ...options });
  setup(w);
  await w.start();
  try {
    await fn(w);
  } finally {
    await w.stop();
  }
}

describe('worker', () => {
  before(async () => {
    stack = await startStack(['--priority-routes', '/hi=high,/lo=low', '--timeout', '5s']);
  });
  after(() => stack?.stop());

  it('answers Hello world! (reliable mode, registered while running, gone after)', async () => {
    await withWorker({}, (w) => w.on('url', () => 'Hello world!'), async (w) => {
      const r = await request(stack.front.http, '/');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'Hello world!');
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.ok(await stack.redis.client.sismember('tempest:workers', w.ids[0]));
    });
    assert.equal(await stack.redis.client.scard('tempest:workers'), 0);
    assert.equal(await stack.redis.client.exists('tempest:processing:' + 'x'), 0);
  });

  it('sees the request as the front sent it and answers status, headers, binary, unicode and empty bodies', async () => {
    const seen = [];
    await withWorker({ logLevel: 'off' }, (w) => w.on('url', async (req) => {  // /missing throws on purpose
      seen.push(req);
      if (req.path === '/binary') return { status: 201, headers: { 'X-Bytes': 'yes' }, body: Buffer.from([0, 255, 1, 254]) };
      if (req.path === '/unicode') return { headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'héllo ✓ 日本 🎉' };
      if (req.path === '/empty') return { status: 204 };
      if (req.path === '/echo') return { status: 299, headers: { 'x-len': req.body.length, 'x-method': req.method }, body: req.body };
      if (req.path === '/json') return { body: { path: req.path, q: req.queryParam('a') } };
      if (req.path === '/array') return [404, { 'X-A': ['1', '2'] }, 'nope'];
      if (req.path === '/bad-header') return { headers: { 'bad name': 'x', ok: 'fine', 'x-crlf': 'a\r\nb' }, body: 'x' };
      throw new Error('no such test');
    }), async () => {
      let r = await request(stack.front.http, '/binary');
      assert.equal(r.status, 201);
      assert.deepEqual([...r.body], [0, 255, 1, 254]);
      assert.equal(r.headers['x-bytes'], 'yes');
      r = await request(stack.front.http, '/unicode');
      assert.equal(r.body.toString('utf8'), 'héllo ✓ 日本 🎉');
      r = await request(stack.front.http, '/empty');
      assert.equal(r.status, 204);
      assert.equal(r.body.length, 0);
      const bin = Buffer.from([0xc3, 0x28, 0x00, 0xff, 0x41]);  // not UTF-8: travels as base64 both ways
      r = await request(stack.front.http, '/echo?x=1', { method: 'POST', body: bin, headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(r.status, 299);
      assert.deepEqual(r.body, bin);
      assert.equal(r.headers['x-len'], '5');
      assert.equal(r.headers['x-method'], 'POST');
      r = await request(stack.front.http, '/json?a=b%20c');
      assert.deepEqual(JSON.parse(r.body), { path: '/json', q: 'b c' });
      assert.match(r.headers['content-type'], /^application\/json/);
      r = await request(stack.front.http, '/array');
      assert.equal(r.status, 404);
      assert.deepEqual(r.rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1].toLowerCase() === 'x-a'), ['1', '2']);
      r = await request(stack.front.http, '/bad-header');
      assert.equal(r.status, 200);
      assert.equal(r.headers.ok, 'fine');
      assert.equal(r.headers['x-crlf'], undefined);
      r = await request(stack.front.http, '/missing');
      assert.equal(r.status, 500);
      assert.equal(r.body.toString(), 'Internal Server Error\n');
      const echo = seen.find((q) => q.path === '/echo');
      assert.equal(echo.query, 'x=1');
      assert.equal(echo.url, '/echo?x=1');
      assert.equal(echo.header('Content-Type'), 'application/octet-stream');
      assert.match(echo.remoteAddr, /^127\.0\.0\.1:\d+$/);
      assert.equal(echo.httpVersion, '1.1');
      assert.equal(echo.retry, false);
      assert.equal(echo.priority, 'normal');
      assert.ok(echo.deadline > Date.now());
    });
  });

  it('two workers in one process have ids of their own', async () => {
    const a = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false, concurrency: 2 });
    const b = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false, queue: 'other' });
    a.on('url', () => 'a');
    b.on('url', () => 'b');
    await a.start();
    await b.start();
    try {
      assert.equal(new Set([...a.ids, ...b.ids]).size, 3);
      assert.equal((await request(stack.front.http, '/')).body.toString(), 'a');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('runs `concurrency` handlers at once', async () => {
    let running = 0, most = 0;
    await withWorker({ concurrency: 4 }, (w) => w.on('url', async () => {
      most = Math.max(most, ++running);
      await sleep(300);
      --running;
      return 'done';
    }), async () => {
      const t0 = Date.now();
      const rs = await Promise.all([1, 2, 3, 4].map((i) => request(stack.front.http, `/slow/${i}`)));
      for (const r of rs) assert.equal(r.body.toString(), 'done');
      assert.equal(most, 4);
      assert.ok(Date.now() - t0 < 1100, `4 jobs of 300 ms took ${Date.now() - t0} ms`);
    });
  });

  it('a stop lets the running handler finish and answer', async () => {
    const w = new Worker({ redis: stack.redisUrl, logLevel: 'error', handleSignals: false });
    let started = false;
    w.on('url', async () => { started = true; await sleep(400); return 'finished'; });
    await w.start();
    const pending = request(stack.front.http, '/long');
    await waitFor(() => started, 'the handler to start');
    const stopped = w.stop();
    assert.equal((await pending).body.toString(), 'finished');
    await stopped;
    assert.equal(w.state, 'stopped');
    assert.equal(await stack.redis.client.scard('tempest:workers'), 0);
  });

  it('takes high before normal before low', async () => {
    // No worker yet: the requests wait on their lists; then one lane takes them in order.
    const pending = [request(stack.front.http, '/lo'), request(stack.front.http, '/normal'), request(stack.front.http, '/hi')];
    await waitFor(async () => (await stack.redis.client.llen('tempest:low')) === 1 &&
      (await stack.redis.client.llen('tempest')) === 1 && (await stack.redis.client.llen('tempest:high')) === 1, 'three queued jobs');
    const order = [];
    await withWorker({}, (w) => w.on('url', (req) => { order.push([req.path, req.priority]); return 'ok'; }), async () => {
      await Promise.all(pending);
    });
    assert.deepEqual(order, [['/hi', 'high'], ['/normal', 'normal'], ['/lo', 'low']]);
  });

  it('drops a job whose deadline has passed, unstarted', async () => {
    // A job as the front writes it, deadline in the past, pushed straight on the queue.
    const job = JSON.stringify(['url', [{ method: 'GET', url: '/late', path: '/late', query: '', headers: {},
      remote_addr: '127.0.0.1:1', http_version: '1.1', priority: 'normal', deadline: Date.now() - 1000, retry: true }],
      stack.front.answer, 1]);
    let called = 0;
    await withWorker({}, (w) => w.on('url', () => { ++called; return 'x'; }), async (w) => {
      await stack.redis.client.rpush('tempest', job);
      await waitFor(() => w.stats.expired === 1, 'the expired count');
      assert.equal(called, 0);
    });
  });

  it('drops a job the front cancelled before it starts, and a running handler sees cancelled()', async () => {
    const calls = [];
    let sawCancel = null;
    await withWorker({}, (w) => w.on('url', async (req) => {
      calls.push(req.path);
      if (req.path === '/busy') { await sleep(800); return 'busy'; }
      if (req.path === '/watch') {
        const until = Date.now() + 3000;
        while (Date.now() < until) {
          if (await req.cancelled()) { sawCancel = true; return 'late'; }
          await sleep(30);
        }
        sawCancel = false;
        return 'never cancelled';
      }
      return 'ran';
    }), async (w) => {
      const busy = request(stack.front.http, '/busy');
      await waitFor(() => calls.includes('/busy'), 'the busy job to start');
      const ac = new AbortController();
      const gone = request(stack.front.http, '/gone', { signal: ac.signal }).catch(() => 'aborted');
      await waitFor(async () => (await stack.redis.client.llen('tempest')) === 1, 'the /gone job queued');
      ac.abort();  // the front's watch of a waiting request (after 50 ms) sees the closed client
      assert.equal(await gone, 'aborted');
      await waitFor(async () => (await stack.redis.client.exists('tempest:cancelled')) === 1, 'the cancellation mark');
      assert.equal((await busy).body.toString(), 'busy');
      await waitFor(() => w.stats.cancelled === 1, 'the cancelled count');
      assert.ok(!calls.includes('/gone'));
      assert.equal(await stack.redis.client.hlen('tempest:cancelled'), 0);  // its field was deleted

      const ac2 = new AbortController();
      const watched = request(stack.front.http, '/watch', { signal: ac2.signal }).catch(() => 'aborted');
      await waitFor(() => calls.includes('/watch'), 'the watch job to start');
      ac2.abort();
      await watched;
      await waitFor(() => sawCancel !== null, 'the handler to end');
      assert.equal(sawCancel, true);
    });
  });

  it('serves jobs in the original 2012 format, answers allowed endpoints, drops unannounced ones', async () => {
    const fake = await fakeAnswerEndpoint();
    const other = await fakeAnswerEndpoint();
    const seen = [];
    try {
      await withWorker({ answerAllow: [fake.address] }, (w) => w.on('url', (req) => {
        seen.push(req);
        return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: `got ${req.method} ${req.path} ${req.query} ${req.text()}` };
      }), async (w) => {
        // ORIGINAL-PROTOCOL.md: {method, url, headers, body} only.
        await stack.redis.client.rpush('tempest',
          JSON.stringify(['url', [{ method: 'POST', url: '/orig/path?x=1', headers: { host: 'h' }, body: 'hi' }], fake.address, 12345]),
          JSON.stringify(['url', [{ method: 'GET', url: '/evil', headers: {} }], other.address, 7]),
          JSON.stringify(['url', [{ method: 'GET', url: '/nobody', headers: {} }], null, 8]));
        await waitFor(() => fake.received.length === 1 && seen.length === 2, 'the answer at the fake endpoint');
        assert.deepEqual(fake.received[0], { action: 'url', id: '12345', json: JSON.stringify([200, { 'Content-Type': 'text/plain' }, 'got POST /orig/path x=1 hi']) });
        assert.equal(w.stats.untrusted, 1);
        assert.equal(other.received.length, 0);
        assert.deepEqual(seen.map((r) => r.path), ['/orig/path', '/nobody']);
      });
    } finally {
      fake.close();
      other.close();
    }
  });

  it('reliable mode wakes at once for jobs pushed without a bell token (a 2012-style front)', async () => {
    const fake = await fakeAnswerEndpoint();
    try {
      await withWorker({ answerAllow: [fake.address], bellGrace: 0 }, (w) => w.on('url', () => 'ok'), async (w) => {
        const push = (id) => stack.redis.client.rpush('tempest', JSON.stringify(['url', [{ method: 'GET', url: '/b', headers: {} }], fake.address, id]));
        await waitFor(() => w.watch.waiters.size === 1, 'the lane waiting');
        await push(1);  // found by the 1 s poll: from then on the list is watched
        await waitFor(() => fake.received.length === 1, 'the first answer', 3000);
        for (let i = 2; i <= 4; ++i) {
          await waitFor(() => w.watch.waiters.size === 1, 'the lane waiting again');
          const t0 = Date.now();
          await push(i);
          await waitFor(() => fake.received.length === i, `answer ${i}`, 3000);
          assert.ok(Date.now() - t0 < 400, `job ${i} took ${Date.now() - t0} ms (the 1 s poll, not the watch?)`);
        }
        assert.equal(w.watch.enabled, true);
      });
    } finally {
      fake.close();
    }
  });

  it('drops the answers of an endpoint that never replies, after answerTimeout, and goes on', async () => {
    const hung = await fakeAnswerEndpoint({ silent: true });
    try {
      await withWorker({ answerAllow: [hung.address], answerTimeout: 300, logLevel: 'off' }, (w) => w.on('url', () => 'x'), async (w) => {
        await stack.redis.client.rpush('tempest', JSON.stringify(['url', [{ method: 'GET', url: '/h', headers: {} }], hung.address, 5]));
        await waitFor(() => hung.received.length === 1, 'the answer written');
        await waitFor(() => w.stats.droppedAnswers === 1, 'the dropped answer', 3000);
        assert.equal((await request(stack.front.http, '/after')).body.toString(), 'x');  // other fronts unaffected
      });
    } finally {
      hung.close();
    }
  });

  it('sends AUTH to a front with --answer-password', async () => {
    const front = await startFront(stack.redisUrl, ['--queue', 'pw', '--answer-password', 's3cret']);
    try {
      await withWorker({ queue: 'pw', answerPassword: 's3cret' }, (w) => w.on('url', () => 'authenticated'), async (w) => {
        const r = await request(front.http, '/');
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'authenticated');
        assert.equal(w.stats.refusedAnswers, 0);
      });
      // A wrong password: the front refuses the answer (-NOAUTH), the worker counts it.
      await withWorker({ queue: 'pw', answerPassword: 'wrong', logLevel: 'off' }, (w) => w.on('url', () => 'never seen'), async (w) => {
        const ac = new AbortController();
        const r = request(front.http, '/', { signal: ac.signal }).catch(() => 'aborted');
        await waitFor(() => w.stats.refusedAnswers === 1, 'the refused answer');
        ac.abort();
        assert.equal(await r, 'aborted');
      });
    } finally {
      front.stop();
    }
  });

  it('serves other actions with their handler and answers their value', async () => {
    const fake = await fakeAnswerEndpoint();
    try {
      await withWorker({ answerAllow: [fake.address] }, (w) => w.on('sum', (args) => ({ sum: args.reduce((a, b) => a + b, 0) })), async () => {
        await stack.redis.client.rpush('tempest', JSON.stringify(['sum', [1, 2, 3], fake.address, 9]));
        await waitFor(() => fake.received.length === 1, 'the sum answer');
        assert.deepEqual(fake.received[0], { action: 'sum', id: '9', json: '{"sum":6}' });
      });
    } finally {
      fake.close();
    }
  });

  it('plain mode: BLMPOP, nothing registered', async () => {
    await withWorker({ mode: 'plain', concurrency: 2 }, (w) => w.on('url', () => 'plain hello'), async () => {
      const r = await request(stack.front.http, '/p');
      assert.equal(r.body.toString(), 'plain hello');
      assert.equal(await stack.redis.client.scard('tempest:workers'), 0);
    });
  });

  it('loads take.lua again after SCRIPT FLUSH (NOSCRIPT)', async () => {
    await withWorker({}, (w) => w.on('url', () => 'again'), async () => {
      assert.equal((await request(stack.front.http, '/1')).body.toString(), 'again');
      await stack.redis.client.script('FLUSH');
      assert.equal((await request(stack.front.http, '/2')).body.toString(), 'again');
    });
  });

  it('publishes with EVAL when SCRIPT LOAD is refused (an ACL)', async () => {
    const r = stack.redis.client;
    await r.call('ACL', 'SETUSER', 'pub', 'on', '>pw', '~*', '&*', '+@all', '-script|load');
    const conn = new Redis({ port: stack.redis.port, host: '127.0.0.1', username: 'pub', password: 'pw', maxRetriesPerRequest: 0 });
    try {
      await r.script('FLUSH');
      const pub = new Publisher(conn);
      const id = await pub.publish('acl', 'via eval');
      assert.match(id, /^\d+-\d+$/);
      assert.equal(pub.evalOnly, true);
      assert.deepEqual((await r.xrange('tempest:history:acl', '-', '+')).map(([i, f]) => [i, f]), [[id, ['e', '', 'd', 'via eval']]]);
    } finally {
      conn.disconnect();
      await r.call('ACL', 'DELUSER', 'pub');
    }
  });

  it('publishes to an SSE subscriber with history, replayed on resume', async () => {
    const sub = eventStream(stack.front.http, '/sub/news');
    await sub.ready;
    assert.equal(sub.status, 200);
    await waitFor(async () => (await stack.redis.client.pubsub('NUMSUB', 'news'))[1] === 1, 'the subscription');
    let id1, id2;
    await withWorker({}, (w) => w.on('url', async (req) => {
      id1 = await w.publish('news', 'hello', { event: 'greet' });
      id2 = await w.publish('news', 'line 1\nline 2');
      return 'published';
    }), async () => {
      assert.equal((await request(stack.front.http, '/pub')).body.toString(), 'published');
      await waitFor(() => sub.blocks.filter((b) => b.data !== undefined).length >= 2, 'two events');
    });
    sub.close();
    const events = sub.blocks.filter((b) => b.data !== undefined);
    assert.deepEqual(events[0], { event: 'greet', data: 'hello', id: `news=${id1}` });
    assert.deepEqual(events[1], { data: 'line 1\nline 2', id: `news=${id2}` });
    const hist = await stack.redis.client.xrange('tempest:history:news', '-', '+');
    assert.deepEqual(hist.map(([id, f]) => [id, f]), [[id1, ['e', 'greet', 'd', 'hello']], [id2, ['e', '', 'd', 'line 1\nline 2']]]);
    // A browser that reconnects from the first event gets the second from the history.
    const again = eventStream(stack.front.http, '/sub/news', { 'Last-Event-ID': `news=${id1}` });
    await again.ready;
    await waitFor(() => again.blocks.some((b) => b.data !== undefined), 'the replayed event');
    again.close();
    assert.deepEqual(again.blocks.find((b) => b.data !== undefined), { data: 'line 1\nline 2', id: `news=${id2}` });
  });
});
