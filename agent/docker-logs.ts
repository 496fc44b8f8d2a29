/**
 * Containers' output from Docker's logs API, for the log shipper (agent/log-shipper.ts): what
 * `docker logs -f --timestamps --since` reads, from the json-file log Docker keeps of each
 * container (agent/docker.ts LOG_CONFIG), so a line written while the agent was down is still there.
 */
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import type Dockerode from 'dockerode';
import type { LogLine, LogSource } from './log-shipper.ts';

/** `2026-12-07T08:29:31.123456789Z text`: Docker's timestamp, then the line. */
export function parseDockerLine(raw: string): LogLine | undefined {
  const space = raw.indexOf(' ');
  if (space <= 0) return undefined;
  const at = Date.parse(raw.slice(0, space));
  if (Number.isNaN(at)) return undefined;
  return { at, text: raw.slice(space + 1) };
}

export class DockerLogSource implements LogSource {
  constructor(private readonly docker: Dockerode) {}

  async *follow(containerId: string, sinceMs: number | undefined, signal: AbortSignal): AsyncIterable<LogLine> {
    const raw = (await this.docker.getContainer(containerId).logs({
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
      // Seconds with a fraction: Docker keeps lines stamped at or after it.
      ...(sinceMs !== undefined ? { since: (sinceMs / 1000).toFixed(3) } : {}),
      abortSignal: signal,
    })) as NodeJS.ReadableStream & { destroy?: () => void };
    // Skiff's containers have no TTY: stdout and stderr come multiplexed in frames of whole lines.
    const lines = new PassThrough();
    this.docker.modem.demuxStream(raw, lines, lines);
    raw.on('end', () => lines.end());
    raw.on('close', () => lines.end());
    raw.on('error', (err: Error) => lines.destroy(err));
    const onAbort = () => {
      raw.destroy?.();
      lines.end();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const text of createInterface({ input: lines, crlfDelay: Number.POSITIVE_INFINITY })) {
        const line = parseDockerLine(text);
        if (line) yield line;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      raw.destroy?.();
    }
  }
}
