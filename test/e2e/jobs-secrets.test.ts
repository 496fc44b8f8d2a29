/**
 * End to end, with real containers on a 2-host local cluster: a multi-document file (a Secret and a
 * service reading it), a global service, a job that succeeds and one that fails. The secret's value
 * reaches the container's env and appears nowhere in the API, the host documents (the agents' state
 * files) or the stored items.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { eventually, json, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';
import { endpointsFile } from '../../local/cluster.ts';

const SECRET = 'e2e-s3cret-value-7731';
const docker = new Docker();
const cluster = uniqueClusterName('jobs');
const dir = mkdtempSync(join(tmpdir(), 'skiff-jobs-e2e-'));
const data = join(dir, 'data');
let running: RunningCluster | undefined;
const cli = (...args: string[]) => skiff(args, { cwd: dir, timeoutMs: 150_000 });

interface TaskJson {
  id: string;
  service: string;
  host: string | null;
  state: string;
}
interface JobJson {
  name: string;
  namespace: string;
  succeeded: number;
  failed: number;
  state: string;
  reason?: string;
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '2', '--data', data]);
});

afterAll(() => tearDownCluster(running, cluster, dir, docker));

const tasksOf = async (service: string) => json<TaskJson[]>(await cli('get', 'tasks', '--service', service, '-n', 'default', '-o', 'json'));
const jobs = async () => json<JobJson[]>(await cli('get', 'jobs', '-o', 'json'));

describe('jobs, secrets, global services and multi-document files on real containers', { timeout: 180_000 }, () => {
  it('applies a Secret and a service reading it from one file; the value reaches the container env and nothing else', async () => {
    const file = join(dir, 'app.yaml');
    writeFileSync(
      file,
      [
        'kind: Service',
        'metadata: { name: web }',
        'spec:',
        '  replicas: 1',
        '  containers:',
        '    - name: app',
        '      image: skiff/busybox:latest',
        '      command: [sleep, "3600"]',
        '      env:',
        '        DB_PASSWORD: { secretKeyRef: { name: db, key: password } }',
        '---',
        'kind: Secret',
        'metadata: { name: db }',
        `data: { password: "${SECRET}" }`,
        '',
      ].join('\n'),
    );
    const applied = await cli('apply', '-f', file, '--timeout', '120');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('secret default/db created (keys password)');
    expect(applied.stdout).not.toContain(SECRET);

    const [task] = await tasksOf('web');
    expect(task.state).toBe('running');
    const [container] = await docker.listContainers({ filters: { label: [`skiff.task=${task.id}`] } });
    const env = await execIn(docker, container.Id, ['sh', '-c', 'echo "$DB_PASSWORD"']);
    expect(env.stdout.trim()).toBe(SECRET);

    // Nowhere in the API, the agents' copies of their host documents, or the table.
    const answers = await Promise.all(
      ['/v1/services', '/v1/namespaces/default/services/web', '/v1/tasks', '/v1/secrets', '/v1/namespaces/default/secrets/db', '/v1/hosts', '/v1/events'].map(
        async (p) => (await running!.fetch(`${running!.api}${p}`)).text(),
      ),
    );
    expect(answers.join('\n')).toContain('DB_PASSWORD');
    expect(answers.join('\n')).not.toContain(SECRET);
    const secrets = json<{ name: string; keys: string[] }[]>(await cli('get', 'secrets', '-o', 'json'));
    expect(secrets.map((s) => [s.name, s.keys])).toEqual([['db', ['password']]]);
    const agents = join(data, 'agents');
    const stateFiles = readdirSync(agents).filter((f) => f.endsWith('.json'));
    // A host with nothing to run gets no document, so it may have no state yet: at least the replica's host has one.
    expect(stateFiles.length).toBeGreaterThanOrEqual(1);
    for (const f of stateFiles) {
      expect(readFileSync(join(agents, f), 'utf8')).not.toContain(SECRET);
      expect(statSync(join(agents, f)).mode & 0o777).toBe(0o600);
    }
    const { dynamodbPort } = JSON.parse(readFileSync(endpointsFile(data), 'utf8')) as { dynamodbPort: number };
    const dynamo = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${dynamodbPort}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const items = await dynamo.send(new ScanCommand({ TableName: 'skiff' }));
      const text = JSON.stringify(items.Items);
      expect(text).toContain('SECRET#default#db');
      expect(text).not.toContain(SECRET);
    } finally {
      dynamo.destroy();
    }
    expect(readFileSync(join(data, 'ssm.json'), 'utf8')).not.toContain(SECRET);
  });

  it('runs a global service as one replica on each of the 2 hosts', async () => {
    const file = join(dir, 'global.yaml');
    writeFileSync(
      file,
      'kind: Service\nmetadata: { name: node-agent }\nspec:\n  mode: global\n  containers: [{ name: a, image: skiff/busybox:latest, command: [sleep, "3600"] }]\n',
    );
    const applied = await cli('apply', '-f', file, '--timeout', '120');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const tasks = await eventually(
      async () => {
        const t = await tasksOf('node-agent');
        return t.length === 2 && t.every((x) => x.state === 'running') ? t : undefined;
      },
      'one running replica per host',
      90_000,
    );
    expect(tasks.map((t) => t.host).sort()).toEqual(['host-1', 'host-2']);
  });

  it('runs a job of 3 completions, 2 at a time, to success', async () => {
    const file = join(dir, 'job.yaml');
    writeFileSync(
      file,
      'kind: Job\nmetadata: { name: once }\nspec:\n  completions: 3\n  parallelism: 2\n  backoffLimit: 2\n  containers: [{ name: a, image: skiff/busybox:latest, command: [sh, -c, "sleep 1; echo done"] }]\n',
    );
    expect((await cli('apply', '-f', file)).code).toBe(0);
    const done = await eventually(
      async () => {
        const j = (await jobs()).find((x) => x.name === 'once');
        return j && j.state !== 'running' ? j : undefined;
      },
      'job once to end',
      120_000,
      1000,
    );
    expect(done).toMatchObject({ name: 'once', namespace: 'default', state: 'succeeded', succeeded: 3, failed: 0 });
    const described = await cli('describe', 'job', 'once');
    expect(described.stdout).toContain('Succeeded:  3 of 3 (parallelism 2)');
  });

  it('fails a job whose tasks keep failing once it passes its backoffLimit', async () => {
    const file = join(dir, 'failing.yaml');
    writeFileSync(
      file,
      'kind: Job\nmetadata: { name: broken }\nspec:\n  backoffLimit: 1\n  containers: [{ name: a, image: skiff/busybox:latest, command: [sh, -c, "exit 3"] }]\n',
    );
    expect((await cli('apply', '-f', file)).code).toBe(0);
    const done = await eventually(
      async () => {
        const j = (await jobs()).find((x) => x.name === 'broken');
        return j && j.state !== 'running' ? j : undefined;
      },
      'job broken to end',
      120_000,
      1000,
    );
    expect(done).toMatchObject({ name: 'broken', state: 'failed', reason: 'BackoffLimitExceeded', succeeded: 0, failed: 2 });
  });
});
