// examples/browser/index.html in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): the native EventSource against the real front, from another origin (CORS).
// The page is served by a static server on its own loopback port; the front allows that origin.
// The key case: the front is killed and restarted on the same port while messages are published
// with `tempest publish`; the browser reconnects by itself with Last-Event-ID and the missed
// messages appear once each, in order. Screenshots go to tests/browser/output/ (git-ignored).
// Run: cd tests/browser && TEMPEST_BUILD_DIR=../../build node --test sse_browser.test.mjs

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  EXAMPLES_BROWSER_DIR, Fixtures, OUTPUT_DIR, publish, redisPublish, waitFor, waitSubscribed,
} from './support.mjs';

const TEST_TIMEOUT = 60_000;
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const fx = new Fixtures();
let browser;
let site;

before(async () => {
  site = await fx.serveStatic(EXAMPLES_BROWSER_DIR);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  fx.defer(() => browser.close());
});
after(() => fx.cleanup());

/** Opens the example page on channels against front; keeps the page's console for failures. */
async function openPage(front, channels, events = []) {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  page.consoleLines = consoleLines;
  const query = new URLSearchParams({ channel: channels, front: front.url });
  if (events.length) query.set('events', events.join(','));
  await page.goto(`${site.origin}/index.html?${query}`);
  return page;
}

/** The rows of the page's event table. */
function rows(page) {
  return page.$$eval('#events tr', (trs) => trs.map((tr) => ({
    channel: tr.dataset.channel, event: tr.dataset.event, id: tr.dataset.id,
    data: tr.querySelector('td.data').textContent,
  })));
}

async function waitRows(page, n, timeout = 10_000) {
  try {
    await page.waitForFunction((count) => document.querySelectorAll('#events tr').length >= count,
      n, { timeout });
  } catch (e) {
    throw new Error(`${n} rows not shown within ${timeout} ms; rows ${JSON.stringify(await rows(page))}; `
      + `state ${await state(page)}; console:\n${page.consoleLines.join('\n')}\n${fx.logs()}`);
  }
  return rows(page);
}

const state = (page) => page.getAttribute('#state', 'data-state');

async function waitState(page, wanted, timeout = 10_000) {
  await waitFor(async () => (await state(page)) === wanted,
    { timeout, message: `page state ${wanted} (console: ${page.consoleLines.join(' | ')})` });
}

async function screenshot(page, name) {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}.png`), fullPage: true });
}

test('the page shows published messages and catches up after the front restarts', { timeout: TEST_TIMEOUT }, async () => {
  const redis = await fx.startRedis();
  const flags = ['--cors-origins', site.origin, '--sse-retry', '500ms'];
  let front = await fx.startFront(redis, flags);
  const page = await openPage(front, 'b-demo', ['greeting']);
  try {
    await waitState(page, 'open');
    await waitSubscribed(redis, 'b-demo');

    await publish(redis, 'b-demo', 'Hello from Tempest');
    await publish(redis, 'b-demo', 'hi there', { event: 'greeting' });
    let shown = await waitRows(page, 2);
    assert.deepEqual(shown.map((r) => [r.channel, r.event, r.data]),
      [['b-demo', 'message', 'Hello from Tempest'], ['b-demo', 'greeting', 'hi there']]);
    await screenshot(page, 'sse_browser-before-restart');

    // The front dies without a goodbye; Redis stays up and keeps recording what is published.
    const port = front.httpPort;
    await front.kill();
    await waitState(page, 'error');
    const missed = ['while down 1', 'while down 2\nsecond line', 'while down 3'];
    for (const data of missed) await publish(redis, 'b-demo', data);

    front = await fx.startFront(redis, flags, { port });
    // EventSource retries every 500 ms (the front's retry:) and sends Last-Event-ID itself.
    shown = await waitRows(page, 5, 15_000);
    await waitState(page, 'open');
    await waitSubscribed(redis, 'b-demo');
    await publish(redis, 'b-demo', 'live again');
    shown = await waitRows(page, 6);
    await screenshot(page, 'sse_browser-after-restart');
    assert.deepEqual(shown.map((r) => r.data),
      ['Hello from Tempest', 'hi there', ...missed, 'live again']);
    const info = await front.info();
    assert.equal(info.sse_replayed, 3, 'the three missed messages came from history');
    assert.equal(info.sse_subscribers, 1);
    // Once each: nothing else arrives later.
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal((await rows(page)).length, 6);
  } catch (e) {
    await screenshot(page, 'sse_browser-failure').catch(() => {});
    throw e;
  } finally {
    await page.close();
  }
});

test('the page names the channel of each event and stops on `end`', { timeout: TEST_TIMEOUT }, async () => {
  const redis = await fx.startRedis();
  const front = await fx.startFront(redis, ['--cors-origins', site.origin]);
  const page = await openPage(front, 'b-left,b-right');
  try {
    await waitState(page, 'open');
    await waitSubscribed(redis, 'b-left');
    await waitSubscribed(redis, 'b-right');
    await redisPublish(redis, 'b-right', '["to the right"]');
    await waitRows(page, 1);
    await publish(redis, 'b-left', 'to the left');
    await waitRows(page, 2);
    await redisPublish(redis, 'b-left', '["$unsubscribe"]');
    const shown = await waitRows(page, 3);
    assert.deepEqual(shown.map((r) => [r.channel, r.event, r.data]), [
      ['b-right', 'message', 'to the right'],
      ['b-left', 'message', 'to the left'],
      ['b-left', 'end', ''],
    ]);
    await waitState(page, 'closed');
    await screenshot(page, 'sse_browser-two-channels');
    await waitFor(async () => (await front.info()).sse_subscribers === 0,
      { message: 'the front to drop the stream' });
  } catch (e) {
    await screenshot(page, 'sse_browser-failure').catch(() => {});
    throw e;
  } finally {
    await page.close();
  }
});

test('a front that does not allow the page\'s origin gets no event through', { timeout: TEST_TIMEOUT }, async () => {
  const redis = await fx.startRedis();
  const front = await fx.startFront(redis, ['--cors-origins', 'http://127.0.0.1:1']);
  const page = await openPage(front, 'b-cors');
  try {
    // The browser blocks the response (no Access-Control-Allow-Origin for this origin).
    await waitFor(async () => ['error', 'closed'].includes(await state(page)),
      { timeout: 10_000, message: 'the page to report the refused stream' });
    assert.notEqual(await state(page), 'open');
  } finally {
    await page.close();
  }
});
