// Which answer endpoints a worker answers (docs/protocol.md 3.5): those a live front announces
// in the sorted set tempest:fronts (score = Redis time in ms until which the member holds) and
// those of the answerAllow list (fronts that announce nothing, such as the 2012 one). A job
// whose respond_to is neither is dropped before its handler runs: nothing, not even the
// answer password, goes to an address a job names unless a front vouched for it.
// Mirrors src/core/answer/targets.cpp:
//   the announced set is trusted for 1 s; a respond_to not in it is looked up again only when
//   the set was read before the job's batch was taken (a front announces before it pushes), so
//   at most one read per batch whatever the jobs say.
//
//   const t = new Targets(allow, () => controlRedis);
//   if (await t.allowed(respondTo, takenAt)) ...
export const frontsKey = 'tempest:fronts';
const cacheMaxAge = 1000;
const maxAnnounced = 4096;

export class Targets {
  constructor(allow, redis) {
    this.allow = new Set(allow || []);
    this.redis = redis;           // an ioredis client (non-blocking use)
    this.announced = new Set();
    this.readAt = null;           // Date.now() of the last read, null: never
    this.reading = null;          // the read in progress (shared by concurrent checks)
  }

  verdict(respondTo, now, takenAt) {
    if (this.allow.has(respondTo)) return 'allowed';
    const fresh = this.readAt !== null && now - this.readAt < cacheMaxAge;
    if (this.announced.has(respondTo)) return fresh ? 'allowed' : 'ask';
    if (this.readAt === null || this.readAt < takenAt || !fresh) return 'ask';
    return 'refused';
  }

  async allowed(respondTo, takenAt) {
    let v = this.verdict(respondTo, Date.now(), takenAt);
    if (v === 'ask') {
      await this.refresh();
      v = this.verdict(respondTo, Date.now(), takenAt);
    }
    return v === 'allowed';
  }

  // TIME, then ZRANGEBYSCORE tempest:fronts <now ms> +inf: the endpoints announced now, by
  // Redis's clock. A failed read keeps the old set, counted as read now (a broken Redis is
  // not asked once per job).
  refresh() {
    if (!this.reading) {
      const started = Date.now();
      this.reading = (async () => {
        try {
          const [s, us] = await this.redis.time();
          const nowMs = Number(s) * 1000 + Math.floor(Number(us) / 1000);
          const members = await this.redis.zrangebyscore(frontsKey, nowMs, '+inf', 'LIMIT', 0, maxAnnounced);
          this.announced = new Set(members);
        } catch {
          // keep the old set
        } finally {
          this.readAt = started;
          this.reading = null;
        }
      })();
    }
    return this.reading;
  }
}
