/**
 * `skiff exec` on a local cluster: finds the task's container by its labels and runs the command
 * in it through the Docker API, streaming stdin, stdout and stderr; the command's exit status is
 * returned. Loaded only by `skiff exec` (dockerode stays out of the CLI's start).
 */
import Docker from 'dockerode';
import { LABELS } from '../agent/executor.ts';
import { SANDBOX } from '../agent/pod-sandbox.ts';
import type { TaskView } from '../core/types.ts';

export interface ExecRequest {
  readonly cluster: string;
  readonly task: Pick<TaskView, 'id' | 'namespace'>;
  /** The pod's container; undefined: its only one, or the first by name when it has several. */
  readonly container: string | undefined;
  readonly cmd: readonly string[];
  readonly stdin: boolean;
  readonly tty: boolean;
}

export async function execInTask(req: ExecRequest, docker = new Docker()): Promise<number> {
  const running = (await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${req.cluster}`, `${LABELS.task}=${req.task.id}`] } })).filter(
    (c) => c.Labels[LABELS.container] !== SANDBOX,
  );
  const names = running.map((c) => c.Labels[LABELS.container]).sort();
  if (names.length === 0) throw new Error(`task ${req.task.id} has no running container on this machine (is its host running?)`);
  const name = req.container ?? names[0];
  const target = running.find((c) => c.Labels[LABELS.container] === name);
  if (!target) throw new Error(`task ${req.task.id} has no running container "${name}"; its containers: ${names.join(', ')}`);
  if (req.container === undefined && names.length > 1) process.stderr.write(`skiff: running in container ${name} of ${names.join(', ')} (-c chooses)\n`);

  const exec = await docker.getContainer(target.Id).exec({
    Cmd: [...req.cmd],
    AttachStdin: req.stdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: req.tty,
  });
  const stream = await exec.start({ hijack: true, stdin: req.stdin, Tty: req.tty });
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  if (req.tty) stream.pipe(process.stdout);
  else docker.modem.demuxStream(stream, process.stdout, process.stderr);
  const rawMode = req.stdin && req.tty && process.stdin.isTTY;
  if (rawMode) process.stdin.setRawMode(true);
  if (req.stdin) process.stdin.pipe(stream);
  try {
    await ended;
  } finally {
    if (rawMode) process.stdin.setRawMode(false);
    if (req.stdin) {
      process.stdin.unpipe(stream);
      process.stdin.pause();
    }
  }
  // The stream may end a moment before Docker records the exit code.
  for (let i = 0; i < 50; i++) {
    const state = await exec.inspect();
    if (!state.Running) return state.ExitCode ?? 1;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the command in ${req.task.id} did not report its exit status`);
}
