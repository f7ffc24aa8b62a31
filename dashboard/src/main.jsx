// The dashboard shell: sign-in (a key kept in sessionStorage), navigation, the site, date range,
// comparison and filters of the URL, and the theme.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, later, session } from './api.js';
import { Events } from './events.jsx';
import { Funnels } from './funnels.jsx';
import { Goals } from './goals.jsx';
import { Filters } from './filters.jsx';
import { Overview } from './overview.jsx';
import { Projects } from './projects.jsx';
import { Retention } from './retention.jsx';
import { go, href, useRoute, withParams } from './route.js';
import { Users } from './users.jsx';
import './style.css';

const VIEWS = [
  ['overview', 'Overview'],
  ['events', 'Events'],
  ['funnels', 'Funnels'],
  ['retention', 'Retention'],
  ['goals', 'Goals'],
  ['users', 'Users'],
  ['projects', 'Projects'],
];
const PERIODS = [
  ['day', 'Today'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['month', 'This month'],
  ['6mo', 'Last 6 months'],
  ['12mo', 'Last 12 months'],
  ['year', 'This year'],
  ['all', 'All time'],
  ['custom', 'Custom range…'],
];
const COMPARISONS = [
  ['previous_period', 'vs previous period'],
  ['year_over_year', 'vs year before'],
  ['off', 'no comparison'],
];

function SignIn({ onSignedIn }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const key = new FormData(event.currentTarget).get('key').trim();
    setBusy(true);
    setError(null);
    try {
      const who = await api('/v1/dashboard/session', { key });
      session.save(key);
      onSignedIn(who);
    } catch (err) {
      const hint = "Use the project's secret key (ths_…), a share token (thr_…) or the admin token.";
      if (err.status === 401) setError(`That key was refused: no project has it (or it was revoked). ${hint}`);
      else if (err.status === 403) setError(`That key was refused: ${err.message}. ${hint}`);
      else setError(err.message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="signin">
      <form onSubmit={submit} class="card" aria-labelledby="signin-title">
        <h1 id="signin-title">Trackhouse</h1>
        <p>Sign in with a project's secret key, a read-only share token or the admin token. It is kept in this browser tab only.</p>
        <label for="key">Key or token</label>
        <input id="key" name="key" type="password" autocomplete="off" required aria-invalid={error ? 'true' : 'false'} aria-describedby={error ? 'signin-error' : undefined} />
        {error && (
          <p id="signin-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function ThemeToggle() {
  const [theme, setTheme] = useState(() => localStorage.getItem('trackhouse.theme') || '');
  useEffect(() => {
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }, [theme]);
  const dark = theme ? theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  const flip = () => {
    const next = dark ? 'light' : 'dark';
    localStorage.setItem('trackhouse.theme', next);
    setTheme(next);
  };
  return (
    <button type="button" class="ghost" onClick={flip} aria-label={`Switch to ${dark ? 'light' : 'dark'} theme`}>
      {dark ? '☀' : '☾'}
    </button>
  );
}

/** A new date range; a custom one starts as the last 30 days. */
function periodChange(period, params) {
  if (period !== 'custom') return { period, interval: null, from: null, to: null };
  const day = (n) => new Date(Date.now() - n * 86400000).toISOString().slice(0, 10);
  return { period, interval: null, from: params.get('from') || day(29), to: params.get('to') || day(0) };
}

function Controls({ view, params, who }) {
  const set = (changes) => go(view, withParams(params, changes));
  return (
    <div class="controls">
      {who.projects && (
        <label>
          <span class="sr-only">Project</span>
          <select value={params.get('site') || ''} onChange={(e) => set({ site: e.currentTarget.value })}>
            {who.projects.map((p) => (
              <option value={p.project_id}>{p.name}</option>
            ))}
          </select>
        </label>
      )}
      <label>
        <span class="sr-only">Date range</span>
        <select value={params.get('period') || '30d'} onChange={(e) => set(periodChange(e.currentTarget.value, params))}>
          {PERIODS.map(([value, label]) => (
            <option value={value}>{label}</option>
          ))}
        </select>
      </label>
      {params.get('period') === 'custom' && (
        <>
          <label>
            From{' '}
            <input type="date" value={params.get('from') || ''} max={params.get('to') || undefined} onChange={(e) => set({ from: e.currentTarget.value })} />
          </label>
          <label>
            to{' '}
            <input type="date" value={params.get('to') || ''} min={params.get('from') || undefined} onChange={(e) => set({ to: e.currentTarget.value })} />
          </label>
        </>
      )}
      {view === 'overview' && (
        <label>
          <span class="sr-only">Comparison</span>
          <select value={params.get('cmp') || 'previous_period'} onChange={(e) => set({ cmp: e.currentTarget.value })}>
            {COMPARISONS.map(([value, label]) => (
              <option value={value}>{label}</option>
            ))}
          </select>
        </label>
      )}
    </div>
  );
}

function Shell({ who, signOut }) {
  const { view, params } = useRoute();
  const site = params.get('site') || who.project_id || who.projects?.[0]?.project_id;
  const keep = new URLSearchParams();
  for (const name of ['site', 'period']) if (params.get(name)) keep.set(name, params.get(name));
  const views = VIEWS.filter(([name]) => (name === 'projects' ? who.role === 'admin' : who.role !== 'admin' || ['overview'].includes(name)));
  const shown = views.some(([name]) => name === view) ? view : 'overview';
  const pages = { overview: Overview, events: Events, funnels: Funnels, retention: Retention, goals: Goals, users: Users, projects: Projects };
  const Page = pages[shown];
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true">◆</span> Trackhouse
          {who.name && <span class="project-name">{who.name}</span>}
          {who.role === 'share' && <span class="badge">read-only</span>}
        </div>
        <nav aria-label="Views">
          {views.map(([name, label]) => (
            <a href={href(name, keep)} aria-current={name === shown ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="account">
          <ThemeToggle />
          <button type="button" class="ghost" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {(shown === 'overview' || shown === 'funnels') && <Controls view={shown} params={params} who={who} />}
        {(shown === 'overview' || shown === 'events') && <Filters view={shown} params={params} editable={shown === 'overview'} />}
        {site || shown === 'projects' ? <Page site={site} params={params} who={who} /> : <p class="empty">No project yet: create one under Projects.</p>}
      </main>
    </>
  );
}

/** Who the key is, as this tab last heard: a reload shows the dashboard at once (its requests
 * start without waiting for the session check, which runs alongside and signs out a key that is
 * no longer accepted). A share link's token replaces whatever the tab had. */
function remembered() {
  const shared = new URLSearchParams(location.hash.split('?')[1] || '').get('auth');
  if (shared && shared !== session.key()) {
    session.clear();
    session.save(shared);
  }
  return session.key() ? session.who() : null;
}

function App() {
  const [who, setWho] = useState(remembered);
  const [checking, setChecking] = useState(() => !who && Boolean(session.key()));
  useEffect(() => {
    if (!session.key()) return;
    (who ? later : api)('/v1/dashboard/session')
      .then(
        (answer) => {
          session.remember(answer);
          setWho((old) => (JSON.stringify(old) === JSON.stringify(answer) ? old : answer));
        },
        (error) => {
          if (error.status !== 401 && error.status !== 403) return;
          session.clear();
          setWho(null);
        },
      )
      .finally(() => setChecking(false));
  }, []);
  if (checking) return <p class="boot">Loading Trackhouse…</p>;
  const signedIn = (answer) => {
    session.remember(answer);
    setWho(answer);
  };
  if (!who) return <SignIn onSignedIn={signedIn} />;
  const signOut = () => {
    session.clear();
    setWho(null);
    location.hash = '';
  };
  return <Shell who={who} signOut={signOut} />;
}

const root = document.getElementById('app');
root.textContent = ''; // the page's "Loading" line: Preact would keep it beside a first render of another shape
render(<App />, root);
