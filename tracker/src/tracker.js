// Trackhouse browser tracker. No runtime dependencies; an ES module (createTracker, and a
// default tracker behind init/track/...) and, built by build.mjs, the /t.js script.
//
// Privacy: one first-party cookie (th_vis = "vis_<random>", 1 year, SameSite=Lax) holds the
// visitor id; no fingerprinting. With respectDoNotTrack (default true) nothing is tracked and
// no cookie is set when the browser sends Do-Not-Track or Global Privacy Control.

const VERSION = '0.1.0';
const COOKIE = 'th_vis';
const USER_KEY = 'th_uid';
const YEAR_SECONDS = 365 * 24 * 3600;
const BEACON_LIMIT = 60000; // sendBeacon/keepalive payloads are capped at 64 KB
const REVENUE_CHANNEL = '__analytics';

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

export function createTracker(options) {
  const cfg = { ...DEFAULTS, ...options };
  if (!cfg.key) throw new Error('trackhouse: init needs a key');
  cfg.host = (cfg.host || '').replace(/\/+$/, '');
  const disabled = cfg.respectDoNotTrack && privacySignal();
  const endpoint = cfg.host + '/v1/batch';

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

  function enqueue(event) {
    if (disabled) return null;
    event.visitor_id = visitor();
    if (userId && !event.user_id) event.user_id = userId;
    event.timestamp = Date.now();
    event.message_id = 'msg_' + randomHex();
    event.context = context();
    queue.push(event);
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

  async function send(batch) {
    let response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-API-Key': cfg.key },
        body: JSON.stringify({ events: batch }),
        keepalive: true,
        credentials: 'omit',
      });
    } catch (_) {
      response = null; // network error: retried
    }
    if (response && response.ok) {
      attempt = 0;
      return true;
    }
    const status = response ? response.status : 0;
    if (status && status < 500 && status !== 429) {
      console.warn('trackhouse: events refused (' + status + ')'); // 4xx: never retried
      return false;
    }
    const after = response ? parseFloat(response.headers.get('Retry-After') || '') : NaN;
    if (retryLater(after)) queue = batch.concat(queue);
    return false;
  }

  // Send what is queued; the promise settles when this attempt is done (true: all sent).
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
    return inflight;
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

  // track(name, properties?, options?) or Kitbase's track({event, channel, tags, ...})
  function track(name, properties, options) {
    let o = options || {};
    let props = properties;
    if (name && typeof name === 'object') {
      o = name;
      props = name.tags || name.properties;
      name = name.event;
    }
    if (!name) throw new Error('trackhouse: track needs an event name');
    const all = { ...superProps, ...props };
    if (timers[name] !== undefined) {
      all.$duration = Math.round(performance.now() - timers[name]);
      delete timers[name];
    }
    const event = { type: 'track', event: cfg.eventPrefix + name, properties: flat(all) };
    for (const key of ['channel', 'user_id', 'icon', 'notify', 'description']) {
      if (o[key] !== undefined) event[key] = o[key];
    }
    return enqueue(event);
  }

  function identify(id, traits) {
    if (!id) throw new Error('trackhouse: identify needs a user id');
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
    const props = { ...(r.tags || {}), amount: r.amount, currency: r.currency };
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
        track(el.getAttribute('data-kb-track-click'), {}, { channel });
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
              track(target.getAttribute('data-kb-track-visibility'), {}, { channel });
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
    get enabled() {
      return !disabled;
    },
    track,
    page: pageview,
    identify,
    reset,
    flush,
    trackRevenue,
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
    if (!current) throw new Error('trackhouse: call init({key, host}) first');
    return current[method](...args);
  };
}

export const track = call('track');
export const page = call('page');
export const identify = call('identify');
export const reset = call('reset');
export const flush = call('flush');
export const trackRevenue = call('trackRevenue');
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
