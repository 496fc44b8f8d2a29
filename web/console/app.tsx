/** The console: sign-in, then the page the URL fragment names, under a header with the navigation. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, type ConsoleConfig, saveToken, savedToken } from './api.ts';
import { EventsPage } from './events.tsx';
import { HostsPage } from './hosts.tsx';
import { LogsPage } from './logs.tsx';
import { href, parseRoute, type Route } from './routes.ts';
import { ServicePage } from './service.tsx';
import { ServicesPage } from './services.tsx';
import { ErrorMessage } from './ui.tsx';

function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return parseRoute(hash);
}

function titleOf(route: Route): string {
  switch (route.page) {
    case 'services':
      return 'Services';
    case 'service':
      return `${route.namespace}/${route.name}`;
    case 'logs':
      return `Logs of ${route.namespace}/${route.name}`;
    case 'hosts':
      return 'Hosts';
    case 'events':
      return 'Events';
  }
}

export function App({ config }: { config: ConsoleConfig }) {
  const [token, setToken] = useState<string | undefined>(savedToken);
  const [signedOut, setSignedOut] = useState<string | undefined>();
  const route = useRoute();
  const signOut = (why?: string) => {
    saveToken(undefined);
    setToken(undefined);
    setSignedOut(why);
  };
  const api = useMemo(() => (token ? new Api(config, token, (message) => signOut(`The API refused the token: ${message}`)) : undefined), [config, token]);
  useEffect(() => {
    document.title = `${api ? titleOf(route) : 'Sign in'} · Skiff console`;
  }, [api, route]);
  // A new page moves focus to its content, so that keyboard and screen reader users start there.
  useEffect(() => {
    if (api) document.getElementById('main')?.focus({ preventScroll: true });
  }, [api, route.page]);
  if (!api)
    return (
      <SignIn
        config={config}
        notice={signedOut}
        onSignedIn={(t) => {
          saveToken(t);
          setToken(t);
        }}
      />
    );
  const current = (page: Route['page'][]) => (page.includes(route.page) ? { 'aria-current': 'page' as const } : {});
  return (
    <>
      {/* A button, not a link to #main: the fragment names the page (routes.ts). */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header>
        <span class="brand">Skiff</span>
        <nav aria-label="Console">
          <a href={href.services()} {...current(['services', 'service', 'logs'])}>
            Services
          </a>
          <a href={href.hosts()} {...current(['hosts'])}>
            Hosts
          </a>
          <a href={href.events()} {...current(['events'])}>
            Events
          </a>
        </nav>
        <button type="button" class="signout" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === 'services' && <ServicesPage api={api} />}
        {route.page === 'service' && <ServicePage key={`${route.namespace}/${route.name}`} api={api} namespace={route.namespace} name={route.name} />}
        {route.page === 'logs' && <LogsPage key={`${route.namespace}/${route.name}`} api={api} namespace={route.namespace} name={route.name} />}
        {route.page === 'hosts' && <HostsPage api={api} />}
        {route.page === 'events' && <EventsPage api={api} />}
      </main>
    </>
  );
}

function SignIn({ config, notice, onSignedIn }: { config: ConsoleConfig; notice?: string; onSignedIn: (token: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const cognito = config.signIn === 'cognito-id-token';
  return (
    <main id="main" class="signin">
      <h1>Sign in to the Skiff console</h1>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          const token = value.trim();
          try {
            // The version route needs any valid identity and holds no data: it checks the token.
            await new Api(config, token).get('/v1/version');
            onSignedIn(token);
          } catch (err) {
            setError(err as Error);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">{cognito ? 'Cognito ID token' : 'API token'}</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          aria-describedby="token-help"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <p id="token-help" class="detail">
          {cognito
            ? 'The idToken that skiff login keeps in login.json beside your skiff config (docs/console.md).'
            : "The local cluster's token: cat .skiff/local/token (in the folder where skiff local up runs), or one that skiff token create gave you."}{' '}
          It is kept in this tab only (session storage) and sent as the CLI sends it.
        </p>
        {error && <ErrorMessage error={error} />}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
