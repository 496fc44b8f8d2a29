/** The console's entry: reads the page's configuration (app/console-assets.ts writes it) and renders the app. */
import { render } from 'preact';
import type { ConsoleConfig } from './api.ts';
import { App } from './app.tsx';

function config(): ConsoleConfig {
  const text = document.getElementById('skiff-console-config')?.textContent ?? '';
  try {
    const c = JSON.parse(text) as Partial<ConsoleConfig>;
    return { apiPrefix: typeof c.apiPrefix === 'string' ? c.apiPrefix : '', signIn: c.signIn === 'cognito-id-token' ? 'cognito-id-token' : 'local-token' };
  } catch {
    return { apiPrefix: '', signIn: 'local-token' };
  }
}

const root = document.getElementById('app');
if (root) render(<App config={config()} />, root);
