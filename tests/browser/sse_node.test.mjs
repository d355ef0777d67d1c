// The npm `eventsource` package (a WHATWG EventSource for Node.js) against the real front:
// what a Node.js subscriber sees of each message shape, a stream over two channels, and resume
// with Last-Event-ID (recorded messages missed while disconnected arrive once each, in order).
// The exact bytes are tested in tests/integration/test_sse.py; this checks a real client parses
// them as intended. Run: cd tests/browser && TEMPEST_BUILD_DIR=../../build node --test sse_node.test.mjs

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import {
  Fixtures, closingFetch, numsub, parseCursor, publish, redisPublish, sleep, waitFor, waitSubscribed,
} from './support.mjs';

const TEST_TIMEOUT = 30_000;
const fx = new Fixtures();
let redis;
let front;

before(async () => {
  redis = await fx.startRedis();
  front = await fx.startFront(redis, ['--sse-retry', '500ms']);
});
after(() => fx.cleanup());

/** One EventSource and everything it delivered: events (message, end, tempest.resync and the
 *  names given), opens and errors. lastEventId: sent as the Last-Event-ID header. Closed when
 *  the test t ends. */
class Subscriber {
  constructor(t, channels, { names = [], lastEventId } = {}) {
    this.events = [];
    this.opens = 0;
    this.errors = 0;
    // closingFetch: so that close() closes the connection on every Node.js (see support.mjs).
    const options = {
      fetch: lastEventId === undefined ? closingFetch : (input, init) => closingFetch(input, {
        ...init, headers: { ...init.headers, 'Last-Event-ID': lastEventId } }),
    };
    this.source = new EventSource(`${front.url}/sub/${channels}`, options);
    t.after(() => this.source.close());
    for (const type of ['message', 'end', 'tempest.resync', ...names]) {
      this.source.addEventListener(type, (e) => {
        this.events.push({ type: e.type, data: e.data, id: e.lastEventId });
      });
    }
    this.source.addEventListener('open', () => { this.opens += 1; });
    this.source.addEventListener('error', () => { this.errors += 1; });
  }

  /** Resolves once open and the front holds SUBSCRIBE on each channel. */
  async ready(...channels) {
    await waitFor(() => this.opens >= 1, { message: 'the EventSource to open' });
    for (const channel of channels) await waitSubscribed(redis, channel);
  }

  async take(n, timeout = 5000) {
    await waitFor(() => this.events.length >= n,
      { timeout, message: `${n} events (got ${JSON.stringify(this.events)})` });
    return this.events.slice(0, n);
  }

  close() {
    this.source.close();
  }
}

const channelOf = (id) => id.split(',')[0].split('=')[0];

test('a one-item message arrives as an ordinary message', { timeout: TEST_TIMEOUT }, async (t) => {
  const sub = new Subscriber(t, 'n-data');
  await sub.ready('n-data');
  assert.equal(sub.events.length, 0, 'the id-only block fires no event');
  await redisPublish(redis, 'n-data', '["hello"]');
  const [event] = await sub.take(1);
  assert.deepEqual(event, { type: 'message', data: 'hello', id: 'n-data=0' });
  sub.close();
});

test('a named event reaches the listener of that name only', { timeout: TEST_TIMEOUT }, async (t) => {
  const sub = new Subscriber(t, 'n-named', { names: ['price'] });
  await sub.ready('n-named');
  await redisPublish(redis, 'n-named', '["price", "42.5"]');
  await redisPublish(redis, 'n-named', '["after"]');
  const events = await sub.take(2);
  assert.deepEqual(events.map((e) => [e.type, e.data]), [['price', '42.5'], ['message', 'after']]);
  sub.close();
});

test('multi-line data comes back with its line breaks as \\n', { timeout: TEST_TIMEOUT }, async (t) => {
  const sub = new Subscriber(t, 'n-lines');
  await sub.ready('n-lines');
  await redisPublish(redis, 'n-lines', JSON.stringify(['one\ntwo\r\nthree\rfour']));
  const [event] = await sub.take(1);
  assert.equal(event.data, 'one\ntwo\nthree\nfour');
  sub.close();
});

test('$unsubscribe sends `end` and the front closes the stream', { timeout: TEST_TIMEOUT }, async (t) => {
  const sub = new Subscriber(t, 'n-end');
  await sub.ready('n-end');
  await redisPublish(redis, 'n-end', '["$unsubscribe"]');
  const [event] = await sub.take(1);
  assert.equal(event.type, 'end');
  assert.equal(event.data, '');
  // The stream ending is an error for EventSource (it would reconnect after `retry`).
  await waitFor(() => sub.errors >= 1, { message: 'the stream to be closed by the front' });
  sub.close();
  await waitFor(async () => (await numsub(redis, 'n-end')) === 0,
    { message: 'the front to UNSUBSCRIBE n-end' });
});

test('two channels in one stream: the cursor\'s first entry names the channel', { timeout: TEST_TIMEOUT }, async (t) => {
  const sub = new Subscriber(t, 'n-left,n-right', { names: ['news'] });
  await sub.ready('n-left', 'n-right');
  const right = await publish(redis, 'n-right', 'from the right');
  await sub.take(1);
  await redisPublish(redis, 'n-left', '["from the left"]');
  await sub.take(2);
  const left = await publish(redis, 'n-left', 'left again', { event: 'news' });
  const events = await sub.take(3);
  assert.deepEqual(events.map((e) => [channelOf(e.id), e.type, e.data]), [
    ['n-right', 'message', 'from the right'],
    ['n-left', 'message', 'from the left'],
    ['n-left', 'news', 'left again'],
  ]);
  assert.deepEqual([...parseCursor(events[0].id)], [['n-right', right], ['n-left', '0']]);
  assert.deepEqual([...parseCursor(events[1].id)], [['n-left', '0'], ['n-right', right]]);
  assert.deepEqual([...parseCursor(events[2].id)], [['n-left', left], ['n-right', right]]);
  sub.close();

  // Resume over both channels: what each missed, each channel in order.
  const missed = [await publish(redis, 'n-right', 'r2'), await publish(redis, 'n-left', 'l2'),
    await publish(redis, 'n-right', 'r3')];
  const again = new Subscriber(t, 'n-left,n-right', { names: ['news'], lastEventId: events[2].id });
  const replayed = await again.take(3);
  const dataOf = (channel) => replayed.filter((e) => channelOf(e.id) === channel).map((e) => e.data);
  assert.deepEqual(dataOf('n-right'), ['r2', 'r3']);
  assert.deepEqual(dataOf('n-left'), ['l2']);
  assert.deepEqual(new Map([...parseCursor(replayed[2].id)].sort()),
    new Map([['n-left', missed[1]], ['n-right', missed[2]]]));
  await sleep(300);
  assert.equal(again.events.length, 3, 'nothing replayed twice');
  again.close();
});

test('resume with Last-Event-ID: exactly the missed messages, in order, once', { timeout: TEST_TIMEOUT }, async (t) => {
  const first = new Subscriber(t, 'n-resume');
  await first.ready('n-resume');
  const ids = [await publish(redis, 'n-resume', 'm1'), await publish(redis, 'n-resume', 'm2')];
  const seen = await first.take(2);
  assert.deepEqual(seen.map((e) => e.data), ['m1', 'm2']);
  assert.deepEqual(seen.map((e) => e.id), ids.map((id) => `n-resume=${id}`));
  first.close();
  await waitFor(async () => (await numsub(redis, 'n-resume')) === 0,
    { message: 'the first subscriber to be gone' });

  for (const data of ['m3', 'm4', 'm5']) ids.push(await publish(redis, 'n-resume', data));

  const second = new Subscriber(t, 'n-resume', { lastEventId: seen[1].id });
  const missed = await second.take(3);
  assert.deepEqual(missed.map((e) => e.data), ['m3', 'm4', 'm5']);
  assert.deepEqual(missed.map((e) => e.id), ids.slice(2).map((id) => `n-resume=${id}`));
  // Live again after the replay, and nothing twice.
  await waitSubscribed(redis, 'n-resume');
  ids.push(await publish(redis, 'n-resume', 'm6'));
  await second.take(4);
  await sleep(300);
  assert.deepEqual(second.events.map((e) => e.data), ['m3', 'm4', 'm5', 'm6']);
  second.close();
});

test('a closed subscriber leaves the front at once, every time', { timeout: 60_000 }, async (t) => {
  // The front notices the client's close by reading its socket (EOF), not at the next write:
  // with a 15 s keep-alive, a 5 s wait here only passes if both sides do their part.
  const before = (await front.info()).sse_subscribers;
  for (let i = 0; i < 50; i++) {
    const sub = new Subscriber(t, 'n-leave');
    await sub.ready('n-leave');
    await redisPublish(redis, 'n-leave', '["one"]');
    await redisPublish(redis, 'n-leave', '["two"]');
    await sub.take(2);
    sub.close();
    await waitFor(async () => (await front.info()).sse_subscribers <= before,
      { message: `subscriber ${i} to be gone (INFO sse_subscribers back to ${before})` });
  }
  await waitFor(async () => (await numsub(redis, 'n-leave')) === 0,
    { message: 'the front to UNSUBSCRIBE n-leave' });
});
