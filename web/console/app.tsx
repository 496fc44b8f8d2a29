/** The console: sign-in, then the page the URL fragment names, under a header with the navigation. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, type ConsoleConfig, saveToken, savedToken } from './api.ts';
import { answerCode, startSignIn } from './cognito.ts';
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
  return (
    <main id="main" class="signin">
      <h1>Sign in to the Skiff console</h1>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {config.signIn === 'cognito' && config.cognito ? (
        <CognitoSignIn config={config} client={config.cognito} onSignedIn={onSignedIn} />
      ) : (
        <TokenSignIn config={config} onSignedIn={onSignedIn} />
      )}
    </main>
  );
}

/** The version route needs any valid identity and holds no data: it checks a token before it is kept. */
async function checkToken(config: ConsoleConfig, token: string): Promise<void> {
  await new Api(config, token).get('/v1/version');
}

function TokenSignIn({ config, onSignedIn }: { config: ConsoleConfig; onSignedIn: (token: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const cognito = config.signIn !== 'local-token';
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        const token = value.trim();
        try {
          await checkToken(config, token);
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
  );
}

/** A Cognito user name and password, then the authenticator app's code the pool asks for. */
function CognitoSignIn({
  config,
  client,
  onSignedIn,
}: {
  config: ConsoleConfig;
  client: NonNullable<ConsoleConfig['cognito']>;
  onSignedIn: (token: string) => void;
}) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [pending, setPending] = useState<{ session: string; user: string } | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const codeField = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (pending) codeField.current?.focus();
  }, [pending]);
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          const step = pending ? await answerCode(client, pending, code.trim()) : await startSignIn(client, user.trim(), password);
          if ('idToken' in step) {
            await checkToken(config, step.idToken);
            setPassword('');
            onSignedIn(step.idToken);
          } else {
            setPending({ session: step.session, user: step.user });
          }
        } catch (err) {
          setError(err as Error);
        } finally {
          setBusy(false);
        }
      }}
    >
      {!pending ? (
        <>
          <label for="user">User name or email</label>
          <input id="user" name="username" autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
          <label for="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </>
      ) : (
        <>
          <label for="code">Code from your authenticator app</label>
          <input
            id="code"
            name="code"
            ref={codeField}
            inputMode="numeric"
            autocomplete="one-time-code"
            pattern="[0-9]{6}"
            required
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </>
      )}
      <p class="detail">
        The user pool of this cluster ({client.region}), as skiff login uses it. The ID token it gives is kept in this tab only (session storage) and sent as
        the CLI sends it; it lasts an hour.
      </p>
      {error && <ErrorMessage error={error} />}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Signing in…' : pending ? 'Send the code' : 'Sign in'}
      </button>
    </form>
  );
}
