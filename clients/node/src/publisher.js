// Publishing Server-Sent Events to the browsers subscribed at the front (GET /sub/<channel>),
// recorded in the channel's history so that a browser that reconnects with Last-Event-ID
// gets what it missed (docs/protocol.md 7.5; as src/worker/publisher.cpp does):
//   historyCount > 0   EVALSHA history.lua 1 tempest:history:<channel> <channel> <event> <data>
//                      <count> <age ms>: XADD (MAXLEN ~ count), trim by age, PUBLISH <channel>
//                      [event or "message", data, id]; returns the entry id. SCRIPT LOAD
//                      refused (an ACL?): EVAL of the file's text from then on
//   historyCount == 0  PUBLISH <channel> ["data"] or ["event","data"] (live only); returns ''
//
//   const pub = new Publisher(redis, {historyCount: 1000, historyAge: 3600000});
//   const id = await pub.publish('news', 'hello', {event: 'update'});
//
// Errors: a channel the front would refuse (1-128 of A-Za-z0-9_.:@-), an event name with CR or
// LF -> TypeError; Redis errors reject the promise.
// If you change the arguments, change history.lua and src/core/history.hpp.
import { loadScript, runScript } from './scripts.js';

export const defaultHistoryCount = 1000;
export const defaultHistoryAge = 3600000;
const channelRe = /^[A-Za-z0-9_.:@-]{1,128}$/;

export function historyKey(channel) {
  return `tempest:history:${channel}`;
}

export class Publisher {
  constructor(redis, o = {}) {
    this.redis = redis;
    this.historyCount = o.historyCount ?? defaultHistoryCount;
    this.historyAge = o.historyAge ?? defaultHistoryAge;
  }

  async publish(channel, data, o = {}) {
    const event = o.event ?? '';
    if (typeof channel !== 'string' || !channelRe.test(channel))
      throw new TypeError(`channel '${String(channel).slice(0, 140)}': 1-128 characters of A-Za-z0-9 and _ . : @ - (the front's /sub/<channel> rule)`);
    if (typeof event !== 'string' || /[\r\n]/.test(event)) throw new TypeError('event name: a string without line breaks');
    if (typeof data !== 'string') data = Buffer.isBuffer(data) ? data.toString('utf8') : JSON.stringify(data);
    const count = o.historyCount ?? this.historyCount;
    const age = o.historyAge ?? this.historyAge;
    if (count === 0) {
      await this.redis.publish(channel, JSON.stringify(event ? [event, data] : [data]));
      return '';
    }
    const script = loadScript('history');
    const k = [historyKey(channel)], a = [channel, event, data, count, age];
    if (!this.evalOnly) {
      try {
        return await runScript(this.redis, script, k, a);
      } catch (e) {
        if (!e.scriptLoadRefused) throw e;
        this.evalOnly = true;  // as src/worker/publisher.cpp: SCRIPT LOAD refused -> EVAL from now on
      }
    }
    return this.redis.eval(script.source, k.length, ...k, ...a);
  }
}
