/** `skiff rollout status|history|undo|restart NAME`: follow, list, revert and restart rollouts (docs/api.md). */
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, seconds, UsageError } from '../command.ts';
import { table } from '../format.ts';
import { rolloutLine, waitForRollout } from '../rollout-wait.ts';
import { servicePath } from '../views.ts';
import { progress } from '../wait.ts';

function client(values: { api?: string; token?: string }): ApiClient {
  return new ApiClient(findApi(values.api, { token: values.token }));
}

function nameOf(sub: string, name: string | undefined): string {
  if (!name) throw new UsageError(`rollout ${sub} needs a service NAME`);
  return name;
}

const status = command({
  name: 'status',
  summary: "wait for a service's rollout, showing its progress; exits 1 if it was rolled back or failed",
  usage: ['rollout status NAME [-n NAMESPACE] [--timeout SECONDS] [--no-wait] [-o json]'],
  example: 'skiff rollout status web --timeout 300',
  flags: {
    timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait (default 600)' },
    'no-wait': { type: 'boolean', help: 'show where the rollout stands and return' },
  },
  maxArgs: 1,
  async run({ values, positionals: [n] }, out) {
    const name = nameOf('status', n);
    const ns = values.namespace ?? 'default';
    const mode = outputMode(values.output);
    const api = client(values);
    const s = values['no-wait']
      ? await api.request<Parameters<typeof rolloutLine>[0]>('GET', `${servicePath(ns, name)}/rollout`)
      : await waitForRollout(api, ns, name, { timeoutS: seconds(values.timeout, '--timeout', 600), progress: progress(out, mode === 'table') });
    if (mode === 'json') out.log(JSON.stringify(s, null, 2));
    else out.log(s.phase === 'complete' ? `${rolloutLine(s)}: rolled out` : rolloutLine(s));
    return s.phase === 'rolledBack' || s.phase === 'failed' ? 1 : 0;
  },
});

interface HistoryBody {
  specVersion: number;
  revisions: { version: number; at: string; cause: string | null; images: string[]; current: boolean }[];
}

const history = command({
  name: 'history',
  summary: 'the pod templates a service rolled out healthy, oldest first, that undo can return to',
  usage: ['rollout history NAME [-n NAMESPACE] [-o json]'],
  example: 'skiff rollout history web',
  flags: {},
  maxArgs: 1,
  async run({ values, positionals: [n] }, out) {
    const name = nameOf('history', n);
    const ns = values.namespace ?? 'default';
    const body = await client(values).request<HistoryBody>('GET', `${servicePath(ns, name)}/rollout/history`);
    if (outputMode(values.output) === 'json') {
      out.log(JSON.stringify(body, null, 2));
      return 0;
    }
    if (body.revisions.length === 0) {
      out.log(`${ns}/${name}: no revision yet (one is kept once a version has rolled out healthy)`);
      return 0;
    }
    out.log(
      table([
        ['VERSION', 'ROLLED OUT', 'IMAGES', 'CAUSE', ''],
        ...body.revisions.map((r) => [String(r.version), r.at, r.images.join(','), r.cause ?? 'apply', r.current ? '(current)' : '']),
      ]),
    );
    return 0;
  },
});

const undo = command({
  name: 'undo',
  summary: 'put back an earlier pod template (default: the previous one) and roll it out; waits for it',
  usage: ['rollout undo NAME [--to-version N] [-n NAMESPACE] [--no-wait] [--timeout SECONDS]'],
  example: 'skiff rollout undo web --to-version 3',
  flags: {
    'to-version': { type: 'string', value: 'N', help: 'the version to return to (skiff rollout history)' },
    'no-wait': { type: 'boolean', help: 'return once the API has the change' },
    timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait (default 600)' },
  },
  maxArgs: 1,
  async run({ values, positionals: [n] }, out) {
    const name = nameOf('undo', n);
    const ns = values.namespace ?? 'default';
    const to = values['to-version'];
    if (to !== undefined && !/^[1-9]\d*$/.test(to)) throw new UsageError(`--to-version must be a version number from skiff rollout history, got "${to}"`);
    const api = client(values);
    const res = await api.request<{ toVersion: number; service: { specVersion: number } }>(
      'POST',
      `${servicePath(ns, name)}/rollout/undo`,
      JSON.stringify(to === undefined ? {} : { toVersion: Number(to) }),
    );
    out.log(`${ns}/${name}: back to the template of version ${res.toVersion}, rolling out as version ${res.service.specVersion}`);
    if (values['no-wait']) return 0;
    const s = await waitForRollout(api, ns, name, {
      version: res.service.specVersion,
      timeoutS: seconds(values.timeout, '--timeout', 600),
      progress: progress(out),
    });
    out.log(`${rolloutLine(s)}: rolled out`);
    return 0;
  },
});

const restart = command({
  name: 'restart',
  summary: 'replace every replica with a new one (new containers, same spec) within the update budgets; waits for it',
  usage: ['rollout restart NAME [-n NAMESPACE] [--no-wait] [--timeout SECONDS]'],
  example: 'skiff rollout restart web',
  flags: {
    'no-wait': { type: 'boolean', help: 'return once the API has the request' },
    timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait (default 600)' },
  },
  maxArgs: 1,
  async run({ values, positionals: [n] }, out) {
    const name = nameOf('restart', n);
    const ns = values.namespace ?? 'default';
    const api = client(values);
    const res = await api.request<{ service: { specVersion: number } }>('POST', `${servicePath(ns, name)}/rollout/restart`);
    out.log(`${ns}/${name}: restarting every replica`);
    if (values['no-wait']) return 0;
    const s = await waitForRollout(api, ns, name, {
      version: res.service.specVersion,
      timeoutS: seconds(values.timeout, '--timeout', 600),
      progress: progress(out),
    });
    out.log(`${rolloutLine(s)}: restarted`);
    return 0;
  },
});

export default command({
  name: 'rollout',
  summary: "follow, list, undo and restart a service's rollouts",
  usage: ['rollout status|history|undo|restart NAME'],
  example: 'skiff rollout status web',
  flags: {},
  subcommands: [status, history, undo, restart],
});
