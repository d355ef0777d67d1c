// Subscribes to a Tempest channel with the browser's native EventSource and lists the events.
//
// What the front sends (docs/protocol.md, Server-Sent Events):
//   retry: 2000              how long the browser waits before reconnecting
//   id: demo=0               an id-only block: sets lastEventId, fires no event
//   id: demo=1732761600000-0 every event carries the cursor: <channel>=<stream id>, one entry per
//   event: name              channel of the stream, the channel of this event first; no
//   data: ...                `event:` line means an ordinary "message"
// Reconnecting is the browser's job: when the stream drops it waits `retry` ms and asks again
// with the header Last-Event-ID: <the last id it saw>, and the front replays what was recorded
// meanwhile (messages sent with `tempest publish`), so nothing is shown twice or skipped.
'use strict';

(() => {
  const MAX_ROWS = 1000;
  const params = new URLSearchParams(location.search);
  const channel = params.get('channel') || 'demo';
  const front = (params.get('front') || location.origin).replace(/\/+$/, '');
  // EventSource delivers a named event only to listeners of that name: the front's own names,
  // plus any the publisher uses (?events=price,news).
  const FRONT_EVENTS = ['end', 'tempest.resync']; // sent by the front itself, shown apart
  const names = [...FRONT_EVENTS, ...(params.get('events') || '').split(',').filter(Boolean)];

  const stateEl = document.getElementById('state');
  const detailEl = document.getElementById('detail');
  const rowsEl = document.getElementById('events');
  const url = `${front}/sub/${channel}`;
  document.getElementById('url').textContent = url;
  let count = 0;

  function setState(state, detail = '') {
    stateEl.dataset.state = state;
    stateEl.textContent = state;
    detailEl.textContent = detail;
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function show(e) {
    // The cursor's first entry names the channel the event came from.
    const from = e.lastEventId.split(',')[0].split('=')[0];
    const row = document.createElement('tr');
    row.className = FRONT_EVENTS.includes(e.type) ? 'event notice' : 'event';
    Object.assign(row.dataset, { channel: from, event: e.type, id: e.lastEventId });
    row.append(cell(String(++count)), cell(from), cell(e.type), cell(e.data, 'data'),
      cell(e.lastEventId, 'id'));
    rowsEl.append(row);
    if (rowsEl.rows.length > MAX_ROWS) rowsEl.rows[0].remove();
  }

  const source = new EventSource(url);
  setState('connecting');
  source.addEventListener('open', () => setState('open'));
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      setState('closed', 'the browser gave up (the front refused the stream)');
    } else {
      setState('error', 'connection lost, reconnecting...');
    }
  });
  source.addEventListener('message', show);
  for (const name of names) source.addEventListener(name, show);
  // ["$unsubscribe"] from the publisher: the front sends `end` and closes; do not reconnect.
  source.addEventListener('end', () => {
    source.close();
    setState('closed', 'the publisher ended the stream');
  });
})();
