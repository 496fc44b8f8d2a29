/**
 * How long a change touching N hosts takes to publish, through one host channel, with its AWS limits
 * enforced: the SSM channel on the Parameter Store stand-in (40 Get/s, 3 Put/s), or the DynamoDB
 * channel on dynalite with DynamoDB's limits modelled (bench/dynamo-limits.ts). N documents of
 * `--tasks` tasks each, published 16 at a time as the pass's publish step does (WRITE_CONCURRENCY),
 * then read back once each. Prints the time, the rate and the throttled requests; asserts nothing.
 *
 *   npx tsx bench/channel-publish.ts --channel dynamodb --hosts 2000 [--tasks 10]
 */
import './env.ts';
import { parseArgs } from 'node:util';
import { numberFlag } from './args.ts';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoHostChannel } from '../adapters/aws/dynamo-host-channel.ts';
import { SsmHostChannel } from '../adapters/aws/ssm-channel.ts';
import { WRITE_CONCURRENCY } from '../app/scheduler/context.ts';
import type { HostDocument } from '../core/types.ts';
import { dynaliteClient, startDynalite } from '../local/dynalite.ts';
import { ensureHostDocumentTable } from '../local/host-document-table.ts';
import { startSsmServer } from '../local/ssm-server.ts';
import type { HostChannel } from '../ports/index.ts';
import { DynamoLimiter } from './dynamo-limits.ts';
import { simHostId } from './scale-hosts.ts';

const { values } = parseArgs({
  options: { channel: { type: 'string', default: 'dynamodb' }, hosts: { type: 'string', default: '200' }, tasks: { type: 'string', default: '10' } },
});
if (values.channel !== 'ssm' && values.channel !== 'dynamodb') {
  console.error(`bench/channel-publish: --channel must be ssm or dynamodb, got ${JSON.stringify(values.channel)}`);
  process.exit(2);
}
const HOSTS = numberFlag('channel-publish', values, 'hosts', { min: 1, max: 100_000, integer: true });
const TASKS = numberFlag('channel-publish', values, 'tasks', { min: 0, max: 300, integer: true });

const doc = (i: number, generation: number): HostDocument => ({
  cluster: 'bench',
  hostId: simHostId(i),
  generation,
  tasks: Array.from({ length: TASKS }, (_, t) => ({
    id: `s${i}-${t}-g${generation}`,
    namespace: 'default',
    service: `s${i}`,
    slot: t,
    specVersion: generation,
    pod: {
      restartPolicy: 'always' as const,
      containers: [
        {
          name: 'web',
          image: 'skiff/busybox:latest',
          command: ['httpd', '-f', '-p', '8080'],
          env: { MODE: 'scale', SERVICE: `s${i}` },
          ports: [{ containerPort: 8080, protocol: 'tcp' as const }],
          resources: { cpu: 50, memory: 64 * 2 ** 20 },
        },
      ],
    },
  })),
});

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const closers: (() => Promise<void>)[] = [];
let channel: HostChannel;
let throttled = () => 0;
let calls = () => ({}) as Record<string, number>;
if (values.channel === 'ssm') {
  const ssm = await startSsmServer({});
  closers.push(() => ssm.close());
  channel = new SsmHostChannel(new SSMClient({ endpoint: ssm.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } }), {
    prefix: '/skiff/bench',
  });
  calls = () => ssm.counts();
} else {
  const dynamo = await startDynalite({});
  closers.push(() => dynamo.close());
  const client = dynaliteClient(dynamo.endpoint);
  await ensureHostDocumentTable(client, 'docs');
  const limiter = new DynamoLimiter('docs');
  limiter.attach(client);
  channel = new DynamoHostChannel(client, { tableName: 'docs' });
  throttled = () => limiter.stats().throttled;
  calls = () => ({ WRU: limiter.stats().wru, RRU: limiter.stats().rru });
}
try {
  const ids = Array.from({ length: HOSTS }, (_, i) => i + 1);
  let failed = 0;
  const t0 = performance.now();
  await forEachLimit(ids, WRITE_CONCURRENCY, async (i) => {
    try {
      await channel.publish(doc(i, 1));
    } catch {
      failed++; // what the pass would leave for the next one
    }
  });
  const publishS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await forEachLimit(ids, WRITE_CONCURRENCY, async (i) => void (await channel.fetch(simHostId(i)).catch(() => undefined)));
  const readS = (performance.now() - t1) / 1000;
  console.log(
    `${values.channel}: ${HOSTS} documents of ${TASKS} tasks published in ${publishS.toFixed(1)} s (${(HOSTS / publishS).toFixed(1)}/s, ${failed} failed after the channel's retries), ` +
      `read back in ${readS.toFixed(1)} s; ${throttled()} requests throttled by the modelled limits; counts ${JSON.stringify(calls())}`,
  );
} finally {
  for (const close of closers) await close();
}
