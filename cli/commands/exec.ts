/**
 * `skiff exec TASK [-c CONTAINER] [-i] [-t] -- CMD [ARG...]`: run a command in a running replica's
 * container, as `kubectl exec` and `docker exec` do. The API is asked first (the task must exist,
 * be one the caller may read, and run); then, on a local cluster, Docker runs the command in the
 * container the task's labels name, and its exit status is skiff's. On AWS the containers are on
 * the hosts, reached through SSM Session Manager: the command prints the session to open
 * (README.md, the CLI table).
 */
import { ApiClient, findApi } from '../client.ts';
import { command, UsageError, type Out } from '../command.ts';
import type { TaskView } from '../../core/types.ts';

export default command({
  name: 'exec',
  summary: "run a command in a running replica's container (locally through Docker; on AWS it prints the SSM session to open)",
  usage: ['exec TASK [-c CONTAINER] [-i] [-t] -- CMD [ARG...]'],
  example: 'skiff exec hello-1-k3x9q -- cat /etc/hostname',
  flags: {
    container: { type: 'string', short: 'c', value: 'NAME', help: "the pod's container (default: its first)" },
    stdin: { type: 'boolean', short: 'i', help: "pass this terminal's input to the command" },
    tty: { type: 'boolean', short: 't', help: 'give the command a terminal' },
  },
  async run({ values, positionals: [taskId, ...cmd] }, out) {
    if (!taskId) throw new UsageError('exec needs a TASK (skiff get tasks lists them)');
    if (cmd.length === 0) throw new UsageError(`exec needs a command after --: skiff exec ${taskId} -- CMD [ARG...]`);
    const target = findApi(values.api, { token: values.token });
    const task = await new ApiClient(target).request<TaskView>('GET', `/v1/tasks/${encodeURIComponent(taskId)}`);
    if (task.state !== 'running' || task.host === null)
      throw new Error(`task ${task.id} is ${task.state}${task.host ? ` on ${task.host}` : ''}, not running: nothing to exec into`);
    if (target.source !== 'local') return printSession(task, cmd, values.container, out);
    const { readTrustedStatus, statusFilePath } = await import('../local-status.ts');
    const local = readTrustedStatus(statusFilePath())?.status;
    if (!local) throw new Error('no local cluster status in this folder: is `skiff local up` running here?');
    const { execInTask } = await import('../exec-docker.ts');
    return execInTask({ cluster: local.cluster, task, container: values.container, cmd, stdin: values.stdin === true, tty: values.tty === true });
  },
});

/** On AWS: the Session Manager command that runs `cmd` in the container on the task's host. */
function printSession(task: TaskView, cmd: readonly string[], container: string | undefined, out: Out): number {
  const quoted = cmd.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  const name = `$(docker ps -q --filter label=skiff.task=${task.id}${container ? ` --filter label=skiff.container=${container}` : ''} | head -1)`;
  out.err(`skiff exec runs commands through Docker on a local cluster; on AWS, open a session on the task's host (${task.host}):`);
  out.log(
    `aws ssm start-session --target ${task.host} --document-name AWS-StartInteractiveCommand --parameters command="sudo docker exec -it ${name} ${quoted.replace(/"/g, '\\"')}"`,
  );
  return 1;
}
