// The live event feed: the latest page of GET /v1/events, then GET /v1/stream (Server-Sent Events read through fetch, so the key goes in
// a header, resumed with Last-Event-ID), or polling GET /v1/events every 2 s where the edge has
// no stream (404).
import { api, session } from './api.js';

const POLL_MS = 2000;

/** Calls ``onEvents(list)`` with new events (newest first) until the returned stop() is called. */
export function follow(filters, onEvents, onMode) {
  const controller = new AbortController();
  let stopped = false;
  let lastId = null;
  const stop = () => {
    stopped = true;
    controller.abort();
  };

  async function poll() {
    onMode('polling');
    while (!stopped) {
      try {
        const page = await api('/v1/events', { query: { ...filters, limit: 50 }, signal: controller.signal });
        onEvents(page.events);
      } catch (error) {
        if (stopped) return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function stream() {
    while (!stopped) {
      const headers = { Authorization: `Bearer ${session.key()}`, Accept: 'text/event-stream' };
      if (lastId) headers['Last-Event-ID'] = lastId;
      let response;
      try {
        response = await fetch(`/v1/stream?${new URLSearchParams(filters)}`, { headers, signal: controller.signal });
      } catch {
        if (stopped) return;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        continue;
      }
      if (!response.ok || !response.body) return poll();
      onMode('live');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let cut;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const message = parse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            if (message.id) lastId = message.id;
            if (message.event === 'event' && message.data) onEvents([JSON.parse(message.data)]);
          }
        }
      } catch {
        if (stopped) return;
      }
    }
  }

  // the latest page first (the stream sends only events stored after it connects)
  api('/v1/events', { query: { ...filters, limit: 50 }, signal: controller.signal })
    .then((page) => onEvents(page.events))
    .catch(() => {})
    .finally(() => stopped || stream());
  return stop;
}

function parse(block) {
  const message = { event: 'message', data: '' };
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') message.data += (message.data ? '\n' : '') + value;
    else if (field === 'id' || field === 'event') message[field] = value;
  }
  return message;
}
