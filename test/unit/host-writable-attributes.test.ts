/**
 * The host role's IAM allow-list (`dynamodb:Attributes`, infra/state.ts) against what the agent's
 * store calls really send: an attribute the agent writes but the list lacks would make AWS refuse
 * the write (AccessDeniedException), and one the list has but nothing writes is a permission no one needs.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { HOST_WRITABLE_ATTRIBUTES } from '../../adapters/aws/dynamo/host-attributes.ts';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import type { AgentStore } from '../../agent/agent.ts';

const PREFIX = 'arn:aws:ec2:eu-west-1:123456789012:instance/';
const HOST = 'i-0abc1234';
const claim = { address: '10.0.1.17', capacity: { cpu: 2000, memory: 4 * 2 ** 30 }, labels: { zone: 'eu-west-1a' }, instanceType: 't4g.medium' };
const KEYWORDS = new Set(['SET', 'ADD', 'REMOVE', 'DELETE', 'AND', 'OR', 'NOT', 'attribute_exists', 'attribute_not_exists', 'if_not_exists', 'list_append']);
const doc = mockClient(DynamoDBDocumentClient);
afterEach(() => doc.reset());

/** Every attribute name a write request carries: the item's, the key's, and those its expressions name. */
function attributesOf(): string[] {
  const names = new Set<string>();
  for (const call of doc.commandCalls(PutCommand)) for (const name of Object.keys(call.args[0].input.Item ?? {})) names.add(name);
  const expressions: string[] = [];
  for (const call of doc.commandCalls(PutCommand)) expressions.push(call.args[0].input.ConditionExpression ?? '');
  for (const call of doc.commandCalls(UpdateCommand)) {
    const input = call.args[0].input;
    for (const name of Object.keys(input.Key ?? {})) names.add(name);
    for (const name of Object.values(input.ExpressionAttributeNames ?? {})) names.add(name);
    expressions.push(input.UpdateExpression ?? '', input.ConditionExpression ?? '');
  }
  // Names written bare in an expression (`attribute_not_exists(pk)`) count too.
  for (const expression of expressions) {
    for (const word of expression.replace(/[#:]\w+/g, '').match(/[A-Za-z_]\w*/g) ?? []) if (!KEYWORDS.has(word)) names.add(word);
  }
  return [...names].sort();
}

/** Every ReturnValues the writes ask for (absent: NONE). */
function returnValuesOf(): string[] {
  const puts = doc.commandCalls(PutCommand).map((c) => c.args[0].input.ReturnValues ?? 'NONE');
  const updates = doc.commandCalls(UpdateCommand).map((c) => c.args[0].input.ReturnValues ?? 'NONE');
  return [...new Set([...puts, ...updates])].sort();
}

describe('HOST_WRITABLE_ATTRIBUTES', () => {
  it('is exactly the attributes the agent names when it reports (with its claim) and beats; it never reads nor updates', async () => {
    const store: AgentStore = new DynamoStore(new DynamoDBClient({ region: 'eu-west-1' }), { tableName: 't', hostArnPrefix: PREFIX });
    const now = '2026-12-07T02:00:00.000Z';
    doc.on(PutCommand).resolves({});
    // The first report carries the registration claim: the control plane registers the host from it.
    await store.putHostStatus({ hostId: HOST, heartbeatAt: now, generation: 0, tasks: [], agentVersion: '1.0.0', claim });
    await store.putHostStatus({ hostId: HOST, heartbeatAt: now, generation: 2, tasks: [], agentVersion: '1.0.0', events: [] });
    // A report while Docker does not answer (the host is degraded, agent/runtime-watch.ts).
    await store.putHostStatus({
      hostId: HOST,
      heartbeatAt: now,
      generation: 2,
      tasks: [],
      agentVersion: '1.0.0',
      events: [],
      runtime: { state: 'unresponsive', since: now, message: 'no Docker call answered for more than 30s' },
    });
    // A report of the volumes it deleted (`--delete-volumes`).
    await store.putHostStatus({ hostId: HOST, heartbeatAt: now, generation: 3, tasks: [], agentVersion: '1.0.0', removedVolumes: ['default/db/data/1'] });
    await store.putHeartbeat(HOST, now);

    expect(doc.commandCalls(PutCommand)).toHaveLength(5);
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(doc.commandCalls(GetCommand)).toHaveLength(0);
    expect(attributesOf()).toEqual([...HOST_WRITABLE_ATTRIBUTES].sort());
    // What infra/state.ts allows for dynamodb:ReturnValues.
    expect(returnValuesOf()).toEqual(['NONE']);
  });

  it('lists each name once', () => {
    expect(new Set(HOST_WRITABLE_ATTRIBUTES).size).toBe(HOST_WRITABLE_ATTRIBUTES.length);
  });
});
