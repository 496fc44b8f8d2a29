import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerLogSource } from '../../agent/docker-logs.ts';

/** A frame of Docker's multiplexed output: stream type (1 stdout, 2 stderr), 3 zero bytes, the size, the payload. */
function frame(type: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Dockerode's own demultiplexer (no daemon is reached: nothing but `logs` is called), over a fake container's log stream. */
function dockerWith(raw: PassThrough, asked: Record<string, unknown>[]): Dockerode {
  const docker = new Dockerode({ socketPath: '/nonexistent/docker.sock' });
  (docker as unknown as { getContainer: (id: string) => unknown }).getContainer = () => ({
    logs: async (opts: Record<string, unknown>) => {
      asked.push(opts);
      return raw;
    },
  });
  return docker;
}

describe('DockerLogSource', () => {
  it("reads stdout and stderr frames as timestamped lines until the container's stream ends", async () => {
    const raw = new PassThrough();
    const asked: Record<string, unknown>[] = [];
    const source = new DockerLogSource(dockerWith(raw, asked));
    const lines: { at: number; text: string }[] = [];
    const done = (async () => {
      for await (const l of source.follow('c1', 1_765_000_000_123, new AbortController().signal)) lines.push(l);
    })();
    raw.write(frame(1, '2026-12-07T08:00:00.000000001Z hello\n2026-12-07T08:00:00.002Z second line\n'));
    raw.write(frame(2, '2026-12-07T08:00:00.003Z on stderr ✓\n'));
    raw.end();
    await done;
    expect(lines).toEqual([
      { at: Date.parse('2026-12-07T08:00:00.000Z'), text: 'hello' },
      { at: Date.parse('2026-12-07T08:00:00.002Z'), text: 'second line' },
      { at: Date.parse('2026-12-07T08:00:00.003Z'), text: 'on stderr ✓' },
    ]);
    expect(asked).toEqual([{ follow: true, stdout: true, stderr: true, timestamps: true, since: '1765000000.123', abortSignal: expect.any(AbortSignal) }]);
  });

  it('ends when the shipper stops', async () => {
    const raw = new PassThrough();
    const stop = new AbortController();
    const source = new DockerLogSource(dockerWith(raw, []));
    const lines: string[] = [];
    const done = (async () => {
      for await (const l of source.follow('c1', undefined, stop.signal)) lines.push(l.text);
    })();
    raw.write(frame(1, '2026-12-07T08:00:00.000Z before\n'));
    await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await done;
    expect(lines).toEqual(['before']);
  });
});
