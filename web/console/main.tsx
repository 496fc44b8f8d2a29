/** The console's entry: reads the page's configuration (app/console-assets.ts writes it) and renders the app. */
import { render } from 'preact';
import type { ConsoleConfig } from './api.ts';
import { App } from './app.tsx';

function config(): ConsoleConfig {
  const text = document.getElementById('skiff-console-config')?.textContent ?? '';
  try {
    const c = JSON.parse(text) as Partial<ConsoleConfig>;
    const apiPrefix = typeof c.apiPrefix === 'string' ? c.apiPrefix : '';
    const watch = c.watch !== false;
    const k = c.cognito;
    if (c.signIn === 'cognito' && k && typeof k.region === 'string' && typeof k.clientId === 'string' && typeof k.endpoint === 'string')
      return { apiPrefix, signIn: 'cognito', cognito: { region: k.region, clientId: k.clientId, endpoint: k.endpoint }, watch };
    return { apiPrefix, signIn: c.signIn === 'cognito-id-token' || c.signIn === 'cognito' ? 'cognito-id-token' : 'local-token', watch };
  } catch {
    return { apiPrefix: '', signIn: 'local-token', watch: true };
  }
}

const root = document.getElementById('app');
if (root) render(<App config={config()} />, root);
