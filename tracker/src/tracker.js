// Trackhouse browser tracker. No runtime dependencies; an ES module (createTracker, and a
// default tracker behind init/track/...) and, built by build.mjs, the /t.js script.
//
// Kitbase's SDK API is covered too: init({sdkKey, baseUrl}) sends each track() at once and
// resolves it to a TrackResponse {id, event, timestamp}, or rejects it with a typed error
// (./errors.js). AnalyticsKit's captureEvent({data, fromUserID}) follows the Python SDK's
// rules (pipeline/sdk/analyticskit.py).
//
// Privacy: one first-party cookie (th_vis = "vis_<random>", 1 year, SameSite=Lax) holds the
// visitor id; no fingerprinting. With respectDoNotTrack (default true) nothing is tracked and
// no cookie is set when the browser sends Do-Not-Track or Global Privacy Control.

import { KitbaseError, TimeoutError, ValidationError, errorFor } from './errors.js';

export {
  KitbaseError,
  KitbaseError as TrackhouseError,
  TimeoutError,
  ApiError,
  AuthenticationError,
  ValidationError,
} from './errors.js';

const VERSION = '0.1.0';
const COOKIE = 'th_vis';
const USER_KEY = 'th_uid';
const YEAR_SECONDS = 365 * 24 * 3600;
const BEACON_LIMIT = 60000; // sendBeacon/keepalive payloads are capped at 64 KB
const REVENUE_CHANNEL = '__analytics';
const EVENT_TYPES = ['info', 'error', 'success']; // AnalyticsKit
const RELEVANCIES = ['low', 'medium', 'high'];

const DEFAULTS = {
  host: '',
  eventPrefix: '',
  autoPageviews: true,
  autoTrack: true, // data-kb-track-click / data-kb-track-visibility
  respectDoNotTrack: true,
  batchSize: 10,
  flushInterval: 3000,
  maxRetries: 5,
  retryBase: 1000,
  retryMax: 30000,
  cookieDomain: '',
  timeout: 30000, // ms per request; past it: TimeoutError (0: no limit)
  onError: null, // (error, events) for batched events not delivered; default: console.warn
};

function randomHex() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function readCookie(name) {
  const found = document.cookie.split('; ').find((part) => part.startsWith(name + '='));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
}

function storage(op, key, value) {
  try {
    if (op === 'get') return localStorage.getItem(key) || '';
    if (op === 'set') localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch (_) {
    // storage blocked: the user id lives in memory only
  }
  return '';
}

// Property values are flat (string, number, boolean, null); anything else is stringified.
function flat(props) {
  const out = {};
  for (const key of Object.keys(props || {})) {
    const v = props[key];
    if (v === undefined) continue;
    out[key] = v === null || typeof v !== 'object' ? v : JSON.stringify(v);
  }
  return out;
}

export function privacySignal() {
  const n = navigator;
  return n.globalPrivacyControl === true || n.doNotTrack === '1' || window.doNotTrack === '1';
}

// A failed call: thrown at once by the batching API, a rejected promise by the immediate one.
function fail(immediate, error) {
  if (immediate) return Promise.reject(error);
  throw error;
}

export function createTracker(options) {
  const cfg = { ...DEFAULTS, ...options };
  // Kitbase's names: sdkKey for key, baseUrl for host
  cfg.key = cfg.key || cfg.sdkKey;
  cfg.host = (cfg.host || cfg.baseUrl || '').replace(/\/+$/, '');
  if (!cfg.key) throw new ValidationError('trackhouse: init needs a key (sdkKey)', 'sdkKey');
  // immediate: each track() is its own POST /v1/events (Kitbase's contract); default with sdkKey
  const immediate = cfg.immediate === undefined ? !!cfg.sdkKey && !options.key : !!cfg.immediate;
  const disabled = cfg.respectDoNotTrack && privacySignal();
  const endpoint = cfg.host + '/v1/batch';
  const pending = new Set(); // immediate sends in flight (flush() waits for them too)

  let queue = [];
  let inflight = Promise.resolve();
  let timer = 0;
  let retryTimer = 0;
  let attempt = 0;
  let visitorId = '';
  let userId = storage('get', USER_KEY);
  let lastUrl = '';
  let superProps = {};
  const timers = {};
  const cleanups = [];

  function writeCookie(value) {
    const domain = cfg.cookieDomain ? '; Domain=' + cfg.cookieDomain : '';
    const secure = location.protocol === 'https:' ? '; Secure' : '';
    document.cookie =
      COOKIE + '=' + encodeURIComponent(value) + '; Max-Age=' + YEAR_SECONDS +
      '; Path=/; SameSite=Lax' + domain + secure;
  }

  function visitor() {
    if (!visitorId) {
      visitorId = readCookie(COOKIE) || 'vis_' + randomHex();
      writeCookie(visitorId); // renewed each visit: a year from the last one
    }
    return visitorId;
  }

  function context() {
    const s = window.screen || {};
    return {
      page: {
        url: location.href,
        path: location.pathname,
        title: document.title,
        referrer: lastUrl || document.referrer || undefined,
      },
      locale: navigator.language,
      screen: s.width ? s.width + 'x' + s.height : undefined,
    };
  }

  function stamp(event) {
    event.visitor_id = visitor();
    if (userId && !event.user_id) event.user_id = userId;
    event.timestamp = Date.now();
    event.message_id = 'msg_' + randomHex();
    event.context = context();
    return event;
  }

  function enqueue(event) {
    if (disabled) return null;
    queue.push(stamp(event));
    if (queue.length >= cfg.batchSize) flush();
    else if (!timer && cfg.flushInterval > 0) timer = setTimeout(flush, cfg.flushInterval);
    return event.message_id;
  }

  function retryLater(seconds) {
    attempt += 1;
    if (attempt > cfg.maxRetries) {
      attempt = 0;
      return false;
    }
    const backoff = Math.min(cfg.retryMax, cfg.retryBase * 2 ** (attempt - 1));
    const delay = seconds > 0 ? seconds * 1000 : Math.random() * backoff; // full jitter
    clearTimeout(retryTimer);
    retryTimer = setTimeout(flush, delay);
    return true;
  }

  function report(error, events) {
    try {
      if (cfg.onError) cfg.onError(error, events);
      else console.warn('trackhouse: ' + events.length + ' event(s) not delivered: ' + error.message);
    } catch (_) {
      // a throwing handler must not stop delivery
    }
  }

  // POST a JSON body; resolves to the decoded answer, rejects with a typed error.
  async function post(path, payload) {
    const abort = new AbortController();
    const timeout = cfg.timeout > 0 && setTimeout(() => abort.abort(), cfg.timeout); // 0: none
    const init = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-API-Key': cfg.key },
      body: payload,
      keepalive: payload.length < BEACON_LIMIT, // outlives the page (64 KB quota)
      credentials: 'omit',
      signal: abort.signal,
    };
    try {
      let response;
      try {
        response = await fetch(cfg.host + path, init);
      } catch (e) {
        if (abort.signal.aborted || !init.keepalive) throw e;
        init.keepalive = false; // over the browser's keepalive quota: send it plainly
        response = await fetch(cfg.host + path, init);
      }
      const text = await response.text();
      let body = text;
      try {
        body = JSON.parse(text);
      } catch (_) {
        // not JSON: the error keeps the text
      }
      if (response.ok) return body;
      const error = errorFor(response.status, body);
      error.retryAfter = parseFloat(response.headers.get('Retry-After') || '');
      throw error;
    } catch (e) {
      if (e instanceof KitbaseError) throw e;
      throw abort.signal.aborted
        ? new TimeoutError('trackhouse: no answer within ' + cfg.timeout + ' ms')
        : new KitbaseError('trackhouse: network error: ' + e.message);
    } finally {
      clearTimeout(timeout);
    }
  }

  async function send(batch) {
    try {
      const answer = await post('/v1/batch', JSON.stringify({ events: batch }));
      attempt = 0;
      for (const e of (answer && answer.errors) || []) {
        report(new ValidationError(e.message, e.field, undefined, e), [batch[e.index]]);
      }
      return true;
    } catch (error) {
      const status = error.statusCode || 0;
      if (status && status < 500 && status !== 429) report(error, batch); // 4xx: never retried
      else if (retryLater(error.retryAfter)) queue = batch.concat(queue);
      else report(error, batch);
      return false;
    }
  }

  // Kitbase's track(): one POST /v1/events, resolved to {id, event, timestamp} (the stored row's
  // id) or rejected with a typed error; not retried (the caller decides, as with Kitbase).
  function direct(event) {
    const sent = post('/v1/events', JSON.stringify(event)).then((a) => ({
      id: a.id,
      event: a.event,
      timestamp: a.timestamp,
    }));
    const settled = sent.then(
      () => true,
      () => false
    );
    pending.add(settled);
    settled.then(() => pending.delete(settled));
    return sent;
  }

  // Send what is queued; the promise settles when this attempt and the immediate sends in
  // flight are done (true: all sent).
  function flush() {
    clearTimeout(timer);
    timer = 0;
    inflight = inflight.then(async () => {
      let ok = true;
      while (queue.length) {
        const batch = queue.splice(0, 100);
        if (!(await send(batch))) {
          ok = false;
          break;
        }
      }
      return ok;
    });
    return Promise.all([inflight, ...pending]).then((all) => all.every(Boolean));
  }

  // Page hide: hand everything queued to the browser (sendBeacon survives the unload). Beacons
  // cannot carry headers, so the key goes in the query string (accepted by /v1/batch only).
  function beacon() {
    clearTimeout(timer);
    timer = 0;
    if (!queue.length) return;
    const url = endpoint + '?key=' + encodeURIComponent(cfg.key);
    let batch = [];
    const sendChunk = () => {
      const body = JSON.stringify({ events: batch });
      const sent = navigator.sendBeacon && navigator.sendBeacon(url, body);
      if (!sent) fetch(url, { method: 'POST', body, keepalive: true }).catch(() => {});
      batch = [];
    };
    for (const event of queue.splice(0)) {
      if (batch.length && JSON.stringify(batch).length + JSON.stringify(event).length > BEACON_LIMIT)
        sendChunk();
      batch.push(event);
    }
    sendChunk();
  }

  function pageview() {
    if (location.href === lastUrl) return;
    enqueue({ type: 'page', event: 'pageview', properties: flat(superProps) });
    lastUrl = location.href;
  }

  // track(name, properties?, options?) or Kitbase's track({event, channel, tags, ...}).
  // Batching: queued, returns the message id. Immediate: a Promise<TrackResponse>.
  function track(name, properties, options) {
    return record(name, properties, options, immediate);
  }

  // Declarative and internal events are always queued (nobody awaits them).
  function record(name, properties, options, now) {
    let o = options || {};
    let props = properties;
    const kitbase = name && typeof name === 'object';
    if (kitbase) {
      o = name;
      props = name.tags || name.properties;
      name = name.event;
    }
    if (!name || typeof name !== 'string') {
      return fail(now, new ValidationError('trackhouse: track needs an event name', 'event'));
    }
    if (kitbase && now && !o.channel) {
      return fail(now, new ValidationError('trackhouse: track needs a channel', 'channel'));
    }
    const all = { ...superProps, ...props };
    const event = { type: 'track', event: cfg.eventPrefix + name };
    if (timers[name] !== undefined) {
      all.$duration = event.duration_ms = Math.round(performance.now() - timers[name]);
      delete timers[name];
    }
    event.properties = flat(all);
    for (const key of ['channel', 'user_id', 'icon', 'notify', 'description']) {
      if (o[key] !== undefined) event[key] = o[key];
    }
    if (!now) return enqueue(event);
    return disabled ? Promise.resolve(null) : direct(stamp(event));
  }

  // AnalyticsKit: {eventType, id, source, longDescription?, relevancy?} is recorded as the event
  // "<eventType>_<id>" on channel <source> with properties {eventType, source, relevancy};
  // relevancy defaults to medium (high for errors) and high ones are flagged notify.
  async function captureEvent({ data, fromUserID } = {}) {
    const d = data || {};
    const type = d.eventType;
    if (!EVENT_TYPES.includes(type)) {
      throw new ValidationError('eventType must be one of ' + EVENT_TYPES.join(', '), 'eventType');
    }
    if (!d.id || typeof d.id !== 'string') {
      throw new ValidationError('id is required (snake_case, e.g. fetch_all_users)', 'id');
    }
    const source = d.source;
    if (!source || typeof source !== 'string') {
      throw new ValidationError('source is required (e.g. general, auth, db)', 'source');
    }
    const relevancy = d.relevancy || (type === 'error' ? 'high' : 'medium');
    if (!RELEVANCIES.includes(relevancy)) {
      throw new ValidationError('relevancy must be one of ' + RELEVANCIES.join(', '), 'relevancy');
    }
    return track(
      type + '_' + d.id,
      { eventType: type, source, relevancy },
      {
        channel: source,
        description: d.longDescription,
        notify: relevancy === 'high' || undefined,
        user_id: fromUserID || undefined,
      }
    );
  }

  function identify(id, traits) {
    if (!id) throw new ValidationError('trackhouse: identify needs a user id', 'user_id');
    userId = String(id);
    storage('set', USER_KEY, userId);
    const result = enqueue({ type: 'identify', user_id: userId, traits: traits || {} });
    flush();
    return result;
  }

  function reset() {
    userId = '';
    storage('remove', USER_KEY);
    visitorId = '';
    if (!disabled) writeCookie('vis_' + randomHex());
    superProps = {};
  }

  function trackRevenue(r) {
    if (typeof r.amount !== 'number') {
      return fail(immediate, new ValidationError('trackhouse: amount must be a number', 'amount'));
    }
    if (!r.currency || typeof r.currency !== 'string') {
      return fail(immediate, new ValidationError('trackhouse: currency is required', 'currency'));
    }
    const props = { ...(r.tags || {}), amount: r.amount, currency: r.currency.toUpperCase() };
    if (r.orderId !== undefined) props.orderId = r.orderId;
    if (r.productId !== undefined) props.productId = r.productId;
    return track(r.event || 'revenue', props, { channel: REVENUE_CHANNEL, user_id: r.user_id });
  }

  // Declarative tracking: clicks are delegated (so elements added later work); visible
  // elements are watched by IntersectionObserver, new ones found by a MutationObserver.
  function autoTrack() {
    const onClick = (e) => {
      const el = e.target && e.target.closest && e.target.closest('[data-kb-track-click]');
      if (el) {
        const channel = el.getAttribute('data-kb-click-channel') || undefined;
        record(el.getAttribute('data-kb-track-click'), {}, { channel });
      }
    };
    document.addEventListener('click', onClick, true);
    cleanups.push(() => document.removeEventListener('click', onClick, true));
    if (!window.IntersectionObserver) return;
    const observers = {};
    const seen = new WeakSet();
    const watch = (el) => {
      if (seen.has(el)) return;
      seen.add(el);
      const t = parseFloat(el.getAttribute('data-kb-visibility-threshold')) || 0.5;
      const io = (observers[t] =
        observers[t] ||
        new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              if (!entry.isIntersecting || entry.intersectionRatio < t - 0.001) continue;
              const target = entry.target;
              io.unobserve(target);
              const channel = target.getAttribute('data-kb-visibility-channel') || undefined;
              record(target.getAttribute('data-kb-track-visibility'), {}, { channel });
            }
          },
          { threshold: t }
        ));
      io.observe(el);
    };
    const scan = (root) => {
      if (root.matches && root.matches('[data-kb-track-visibility]')) watch(root);
      if (root.querySelectorAll) root.querySelectorAll('[data-kb-track-visibility]').forEach(watch);
    };
    scan(document);
    const mo = new MutationObserver((records) => {
      for (const r of records) r.addedNodes.forEach((n) => n.nodeType === 1 && scan(n));
    });
    mo.observe(document.documentElement, { childList: true, subtree: true });
    cleanups.push(() => {
      mo.disconnect();
      Object.values(observers).forEach((o) => o.disconnect());
    });
  }

  function onHistory() {
    setTimeout(pageview, 0); // after the app has updated the title
  }

  function start() {
    if (disabled) return;
    const onHide = () => document.visibilityState === 'hidden' && beacon();
    document.addEventListener('visibilitychange', onHide);
    window.addEventListener('pagehide', beacon);
    cleanups.push(() => {
      document.removeEventListener('visibilitychange', onHide);
      window.removeEventListener('pagehide', beacon);
    });
    if (cfg.autoPageviews) {
      const h = history;
      for (const method of ['pushState', 'replaceState']) {
        const original = h[method];
        h[method] = function (...args) {
          const result = original.apply(this, args);
          onHistory();
          return result;
        };
        cleanups.push(() => (h[method] = original));
      }
      window.addEventListener('popstate', onHistory);
      cleanups.push(() => window.removeEventListener('popstate', onHistory));
      pageview();
    }
    if (cfg.autoTrack) {
      if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', autoTrack, { once: true });
      } else autoTrack();
    }
  }

  start();

  return {
    version: VERSION,
    immediate,
    get enabled() {
      return !disabled;
    },
    track,
    page: pageview,
    identify,
    reset,
    flush,
    trackRevenue,
    captureEvent,
    timeEvent: (name) => {
      timers[name] = performance.now();
    },
    cancelTimeEvent: (name) => {
      delete timers[name];
    },
    getTimedEvents: () => Object.keys(timers),
    getEventDuration: (name) =>
      timers[name] === undefined ? null : Math.round(performance.now() - timers[name]),
    register: (props) => {
      superProps = { ...superProps, ...props };
    },
    registerOnce: (props) => {
      for (const k of Object.keys(props)) if (!(k in superProps)) superProps[k] = props[k];
    },
    unregister: (key) => {
      delete superProps[key];
    },
    getSuperProperties: () => ({ ...superProps }),
    clearSuperProperties: () => {
      superProps = {};
    },
    getVisitorId: () => (disabled ? null : visitor()),
    getUserId: () => userId || null,
    destroy: () => {
      cleanups.splice(0).forEach((fn) => fn());
      clearTimeout(timer);
      clearTimeout(retryTimer);
    },
  };
}

// The default tracker: init() once, then the module-level functions.
let current = null;

export function init(options) {
  if (current) current.destroy();
  current = createTracker(options);
  return current;
}

function call(method) {
  return (...args) => {
    if (!current) throw new KitbaseError('trackhouse: call init({sdkKey, baseUrl}) first');
    return current[method](...args);
  };
}

export const track = call('track');
export const page = call('page');
export const identify = call('identify');
export const reset = call('reset');
export const flush = call('flush');
export const trackRevenue = call('trackRevenue');
export const captureEvent = call('captureEvent');
export const timeEvent = call('timeEvent');
export const cancelTimeEvent = call('cancelTimeEvent');
export const getTimedEvents = call('getTimedEvents');
export const getEventDuration = call('getEventDuration');
export const register = call('register');
export const registerOnce = call('registerOnce');
export const unregister = call('unregister');
export const getSuperProperties = call('getSuperProperties');
export const clearSuperProperties = call('clearSuperProperties');
export const getVisitorId = call('getVisitorId');
export const getUserId = call('getUserId');
