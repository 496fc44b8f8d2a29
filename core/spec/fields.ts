/**
 * Rules of single fields that are more than a type: DNS labels, image references, port names,
 * labels, constraints, env names, HTTP paths, ingress hosts. Each `...Problem` returns the
 * message for a bad value, or undefined.
 */
import { DNS_LABEL_MAX } from './defaults.ts';
import { MAX_ENV_NAME_LENGTH, MAX_HTTP_PATH_LENGTH, MAX_IMAGE_LENGTH, MAX_MOUNT_PATH_LENGTH, tooLong } from './limits.ts';
import { got } from './messages.ts';

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
export const DNS_LABEL_RULE = 'lowercase letters, digits and "-", starting and ending with a letter or digit';

/** True for an RFC 1123 DNS label: lowercase letters, digits and '-', alphanumeric at both ends, at most 63 characters. */
export function isDnsLabel(value: string): boolean {
  return value.length <= DNS_LABEL_MAX && DNS_LABEL.test(value);
}

export function dnsLabelProblem(value: string, max: number, reason?: string): string | undefined {
  if (!DNS_LABEL.test(value)) return `must be a DNS label (${DNS_LABEL_RULE}); got ${got(value)}`;
  if (value.length > max) {
    return `must be at most ${max} characters${reason ? ` (${reason})` : ''}; got ${value.length} characters`;
  }
  return undefined;
}

/** The first component of a reference is a registry host when it has a '.' or ':' or is localhost (Docker's rule). */
export function imageProblem(ref: string): string | undefined {
  if (ref === '') return 'must not be empty';
  // Before the patterns below: their cost grows with the reference.
  const long = tooLong(ref, MAX_IMAGE_LENGTH);
  if (long !== undefined) return long;
  if (/\s/.test(ref)) return `must not contain spaces; got ${got(ref)}`;
  let name = ref;
  const at = ref.indexOf('@');
  if (at >= 0) {
    const digest = ref.slice(at + 1);
    name = ref.slice(0, at);
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/.test(digest)) {
      return `has an invalid digest ${got(digest)} (expected algorithm:hex, such as sha256:<64 hex digits>)`;
    }
  }
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    const tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!/^\w[\w.-]{0,127}$/.test(tag)) {
      return `has an invalid tag ${got(tag)} (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`;
    }
  }
  const parts = name.split('/');
  const hasRegistry = parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === 'localhost');
  if (hasRegistry && !/^[A-Za-z0-9.-]+(?::\d+)?$/.test(parts[0])) return `has an invalid registry host ${got(parts[0])}`;
  const repository = hasRegistry ? parts.slice(1) : parts;
  if (/[A-Z]/.test(repository.join('/'))) return `repository name must be lowercase; got ${got(ref)}`;
  for (const part of repository) {
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(part)) {
      return `must be a Docker image reference such as skiff/busybox:latest; ${got(part)} is not a valid repository path component in ${got(ref)}`;
    }
  }
  return undefined;
}

/** IANA service names, as Kubernetes checks port names: at most 15, lowercase alnum and '-', a letter, no '--', no '-' at either end. */
export function portNameProblem(name: string): string | undefined {
  const rules = 'at most 15 characters of lowercase letters, digits and "-", with at least one letter, no "--" and no "-" at either end';
  const ok = name.length <= 15 && /^[a-z0-9-]+$/.test(name) && /[a-z]/.test(name) && !name.includes('--') && !/^-|-$/.test(name);
  return ok ? undefined : `must be an IANA service name (${rules}); got ${got(name)}`;
}

const LABEL_NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME_RULE = 'at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit';

/** Label keys and values follow Kubernetes: `[prefix/]name`, the prefix a DNS subdomain. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key prefix ${got(prefix)} must be a DNS subdomain such as example.com`;
  }
  if (name.length > DNS_LABEL_MAX || !LABEL_NAME.test(name)) return `label key ${got(key)} must be [prefix/]name, name ${LABEL_NAME_RULE}`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === '' || (value.length <= DNS_LABEL_MAX && LABEL_NAME.test(value))) return undefined;
  return `must be empty or ${LABEL_NAME_RULE}; got ${got(value)}`;
}

/** A placement constraint against host labels. */
export interface Constraint {
  readonly key: string;
  readonly op: '==' | '!=';
  readonly value: string;
}

const CONSTRAINT = /^\s*([^\s=!]+)\s*(==|!=)\s*(\S+)\s*$/;

/** Parses `key == value` or `key != value`; undefined when the text is not a constraint. */
export function parseConstraint(text: string): Constraint | undefined {
  const m = CONSTRAINT.exec(text);
  if (!m || labelKeyProblem(m[1]) !== undefined || labelValueProblem(m[3]) !== undefined) return undefined;
  return { key: m[1], op: m[2] as Constraint['op'], value: m[3] };
}

export function envNameProblem(name: string): string | undefined {
  // Docker passes env as "NAME=value" strings: a name cannot hold '=' or be empty (Kubernetes' rule too).
  if (name === '' || name.includes('=') || name.includes('\0')) {
    return `environment variable name ${got(name)} must be non-empty and must not contain "="`;
  }
  const long = tooLong(name, MAX_ENV_NAME_LENGTH);
  if (long !== undefined) return `environment variable name ${got(name)} ${long}`;
  return undefined;
}

export function httpPathProblem(path: string): string | undefined {
  const long = tooLong(path, MAX_HTTP_PATH_LENGTH);
  if (long !== undefined) return long;
  if (!path.startsWith('/')) return `must be a URL path starting with "/", such as /healthz; got ${got(path)}`;
  if (/[\s\p{Cc}]/u.test(path)) return `must not contain spaces or control characters (percent-encode them); got ${got(path)}`;
  return undefined;
}

/** The longest DNS name (RFC 1035: 255 octets on the wire, 253 characters written out). */
const DNS_NAME_MAX = 253;

/**
 * An ingress host: a lowercase DNS name, matched against the request's Host header, or a wildcard
 * `*.shop.example.com` (core/ingress-match.ts). Common slips (a URL, a port, a trailing dot,
 * capitals) get the host they probably meant.
 */
export function ingressHostProblem(host: string): string | undefined {
  const rules = `a DNS name such as shop.example.com: labels of ${DNS_LABEL_RULE}, separated by "."`;
  const suggest = (fixed: string): string => (fixed !== host && ingressHostProblem(fixed) === undefined ? ` (did you mean "${fixed}"?)` : '');
  if (host === '') return `must be ${rules}; got an empty string`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) || host.includes('/')) {
    const bare = host
      .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
      .split('/')[0]
      .replace(/:\d*$/, '')
      .toLowerCase();
    return `must be a host name without a scheme or path${suggest(bare)}: ${rules}; got ${got(host)}`;
  }
  if (/:\d*$/.test(host)) {
    return `must be a host name without a port${suggest(host.replace(/:\d*$/, '').toLowerCase())}: the load balancer listens on its own port; got ${got(host)}`;
  }
  if (host.startsWith('*')) {
    // A wildcard: "*." then a name of at least two labels, so that no tenant claims a whole top-level domain.
    const suffix = host.startsWith('*.') ? host.slice(2) : undefined;
    const problem = suffix === undefined || suffix.includes('*') ? 'is not one' : ingressHostProblem(suffix);
    if (problem !== undefined || suffix === undefined || !suffix.includes('.')) {
      return `must be a host name or a wildcard "*." followed by a domain of at least two labels, such as *.shop.example.com; got ${got(host)}`;
    }
    return undefined;
  }
  if (host.includes('*')) return `may hold "*" only as its whole first label, such as *.shop.example.com; got ${got(host)}`;
  if (host.endsWith('.')) return `must be written without the trailing "."${suggest(host.replace(/\.+$/, ''))}; got ${got(host)}`;
  if (host !== host.toLowerCase()) return `must be lowercase${suggest(host.toLowerCase())}: Host headers are matched without regard to case; got ${got(host)}`;
  if (host.length > DNS_NAME_MAX) return `must be at most ${DNS_NAME_MAX} characters (the longest DNS name); got ${host.length} characters`;
  const labels = host.split('.');
  const bad = labels.find((l) => !isDnsLabel(l));
  if (bad !== undefined) {
    const what = bad === '' ? 'an empty label (two dots in a row, or a leading dot)' : `the label ${got(bad)}`;
    return `must be ${rules}, each label at most ${DNS_LABEL_MAX} characters; ${what} is not one, in ${got(host)}`;
  }
  // No top-level domain is all digits, so such a name is an IP address or a typo of one.
  if (/^\d+$/.test(labels[labels.length - 1])) return `must be a DNS name, not an IP address: requests are routed by their Host header; got ${got(host)}`;
  return undefined;
}

/**
 * A volume's mount path: absolute, normalised (no "." or ".." segment, no doubled or trailing "/"), not
 * the container's root, and free of ":" and "," (the separators of Docker's mount syntax).
 */
export function mountPathProblem(path: string): string | undefined {
  const long = tooLong(path, MAX_MOUNT_PATH_LENGTH);
  if (long !== undefined) return long;
  if (!path.startsWith('/')) return `must be an absolute path in the container, such as /data; got ${got(path)}`;
  if (path === '/') return 'must not be "/": a volume cannot replace the container\'s whole filesystem; mount it on a directory such as /data';
  if (/[:,\s\0]/.test(path)) return `must not contain ":", ",", spaces or control characters (they separate Docker's mount options); got ${got(path)}`;
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return `must be a normalised path (no "//", ".", ".." or trailing "/"); got ${got(path)}`;
  return undefined;
}
