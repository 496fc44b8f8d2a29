/** The console's pages as URL fragments (`#/services`), so that links, Back and reloads work without server routes. */

export type Route =
  | { readonly page: 'services' }
  | { readonly page: 'service'; readonly namespace: string; readonly name: string }
  | { readonly page: 'logs'; readonly namespace: string; readonly name: string }
  | { readonly page: 'hosts' }
  | { readonly page: 'events' };

const part = (s: string) => encodeURIComponent(s);

export const href = {
  services: () => '#/services',
  service: (ns: string, name: string) => `#/services/${part(ns)}/${part(name)}`,
  logs: (ns: string, name: string) => `#/services/${part(ns)}/${part(name)}/logs`,
  hosts: () => '#/hosts',
  events: () => '#/events',
};

/** The page a fragment names; anything else is the services page. */
export function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  if (parts[0] === 'hosts') return { page: 'hosts' };
  if (parts[0] === 'events') return { page: 'events' };
  if (parts[0] === 'services' && parts.length === 3) return { page: 'service', namespace: parts[1], name: parts[2] };
  if (parts[0] === 'services' && parts.length === 4 && parts[3] === 'logs') return { page: 'logs', namespace: parts[1], name: parts[2] };
  return { page: 'services' };
}
