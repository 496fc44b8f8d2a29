import { CloudWatchLogsClient, CreateLogGroupCommand, CreateLogStreamCommand, GetLogEventsCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLogsServer, type LogsServer } from '../../local/logs-server.ts';

let server: LogsServer;
let client: CloudWatchLogsClient;
beforeAll(async () => {
  server = await startLogsServer({ maxEventsPerStream: 3 });
  client = new CloudWatchLogsClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
    maxAttempts: 1,
  });
  await client.send(new CreateLogGroupCommand({ logGroupName: 'g' }));
  await client.send(new CreateLogStreamCommand({ logGroupName: 'g', logStreamName: 's' }));
});
afterAll(async () => {
  await server?.close();
});

const errorName = (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (err: Error) => err.name,
  );

describe('the CloudWatch Logs stand-in', () => {
  it('keeps the newest maxEventsPerStream events of a stream', async () => {
    await client.send(
      new PutLogEventsCommand({ logGroupName: 'g', logStreamName: 's', logEvents: [1, 2, 3, 4, 5].map((i) => ({ timestamp: i, message: `m${i}` })) }),
    );
    const out = await client.send(new GetLogEventsCommand({ logGroupName: 'g', logStreamName: 's', startFromHead: true }));
    expect(out.events?.map((e) => e.message)).toEqual(['m3', 'm4', 'm5']);
  });

  it('answers with the errors CloudWatch Logs gives, as the SDK names them', async () => {
    expect(await errorName(client.send(new CreateLogStreamCommand({ logGroupName: 'g', logStreamName: 's' })))).toBe('ResourceAlreadyExistsException');
    expect(
      await errorName(client.send(new PutLogEventsCommand({ logGroupName: 'g', logStreamName: 'nope', logEvents: [{ timestamp: 1, message: 'x' }] }))),
    ).toBe('ResourceNotFoundException');
    expect(await errorName(client.send(new GetLogEventsCommand({ logGroupName: 'nope', logStreamName: 's' })))).toBe('ResourceNotFoundException');
    const unordered = [
      { timestamp: 2, message: 'b' },
      { timestamp: 1, message: 'a' },
    ];
    expect(await errorName(client.send(new PutLogEventsCommand({ logGroupName: 'g', logStreamName: 's', logEvents: unordered })))).toBe(
      'InvalidParameterException',
    );
    expect(
      await errorName(
        client.send(new PutLogEventsCommand({ logGroupName: 'g', logStreamName: 's', logEvents: [{ timestamp: 1, message: 'x'.repeat(262_144) }] })),
      ),
    ).toBe('InvalidParameterException');
    expect(server.counts().PutLogEvents).toBeGreaterThanOrEqual(4);
  });

  it('listens on loopback only, and refuses unknown options', async () => {
    await expect(startLogsServer({ host: '0.0.0.0' })).rejects.toThrow(/loopback/);
    await expect(startLogsServer({ maxEventsPerStream: 0 })).rejects.toThrow(/maxEventsPerStream/);
    await expect(startLogsServer({ retention: 1 } as never)).rejects.toThrow(/unknown option/);
  });
});
