/** `skiff describe service NAME`: a service's DNS name, ingress and endpoints. */
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, UsageError } from '../command.ts';
import { table } from '../format.ts';
import { endpoints, servicePath, type ServiceDetail } from '../views.ts';
import { describeReading } from '../../core/autoscale.ts';
import { describeJob } from '../jobs.ts';

export default command({
  name: 'describe',
  summary: "a service's DNS name, ingress, and each replica's address, endpoint and whether it takes traffic",
  usage: ['describe service NAME [-n NAMESPACE] [-o json]', 'describe job NAME [-n NAMESPACE] [-o json]'],
  example: 'skiff describe service hello',
  flags: {},
  async run({ values, positionals }, out) {
    const [kind, name, extra] = positionals;
    if ((kind === 'job' || kind === 'jobs' || kind === 'cronjob') && name && !extra) {
      await describeJob(new ApiClient(findApi(values.api, { token: values.token })), values.namespace ?? 'default', name, outputMode(values.output), out);
      return 0;
    }
    if (kind !== 'service' && kind !== 'services' && kind !== 'svc')
      throw new UsageError(kind ? `cannot describe "${kind}": use describe service NAME` : 'describe what? service NAME');
    if (!name) throw new UsageError('describe service needs a NAME');
    if (extra) throw new UsageError(`unexpected argument "${extra}"`);
    const ns = values.namespace ?? 'default';
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    const s = await client.request<ServiceDetail>('GET', servicePath(ns, name));
    if (outputMode(values.output) === 'json') {
      out.log(JSON.stringify(s, null, 2));
      return 0;
    }
    const ready = s.tasks.filter((t) => t.state === 'running' && (t.health === undefined || t.health === 'healthy'));
    out.log(`Service:   ${s.namespace}/${s.name}`);
    out.log(`Replicas:  ${s.running} healthy of ${s.replicas} desired${s.ready ? '' : ' (converging)'}`);
    out.log(`DNS:       ${s.dns} (A: one address per healthy replica; SRV: _<port>._tcp.${s.dns})`);
    const ingress = s.ingress;
    const tls = ingress?.tls === undefined ? '' : typeof ingress.tls === 'object' ? `, tls (certificate ${ingress.tls.certificateArn})` : ', tls';
    out.log(
      `Ingress:   ${ingress ? `${ingress.host}${ingress.path ?? ''} → port ${ingress.port}${tls}${ingress.sessionAffinity ? ', session affinity' : ''}` : 'none'}`,
    );
    if (s.autoscaling) for (const line of autoscalingLines(s)) out.log(line);
    out.log('Endpoints:');
    out.log(
      table([
        ['  TASK', 'HOST', 'ADDRESS', 'ENDPOINT', 'STATE', 'HEALTH', 'IN DNS/LB'],
        ...s.tasks.map((t) => [
          `  ${t.id}`,
          t.host ?? '-',
          t.address ?? '-',
          endpoints(t),
          t.state,
          t.health ?? '-',
          ready.includes(t) && t.ports.length ? 'yes' : 'no',
        ]),
      ]),
    );
    return 0;
  },
});

/** The autoscaler's bounds, each target against its current value, and the last decision. */
function autoscalingLines(s: ServiceDetail): string[] {
  const a = s.autoscaling!;
  const lines = [
    `Autoscaling: ${a.minReplicas} to ${a.maxReplicas} replicas; scale up over ${a.scaleUpStabilizationSeconds} s, down over ${a.scaleDownStabilizationSeconds} s`,
  ];
  const unit = (metric: string, n: number | undefined) =>
    n === undefined ? '?' : metric === 'requests' ? `${Math.round(n * 10) / 10}/s` : `${Math.round(n)}%`;
  const rows = (s.metrics ?? []).map((r) => [
    `  ${r.metric}`,
    `${unit(r.metric, r.value)} / ${unit(r.metric, r.target)}`,
    r.proposal === undefined ? '-' : String(r.proposal),
    r.value === undefined ? describeReading(r) : (r.note ?? ''),
  ]);
  if (rows.length) lines.push(table([['  METRIC', 'CURRENT / TARGET', 'WANTS', 'NOTE'], ...rows]));
  const d = s.scale;
  lines.push(`Last scale:  ${d ? `${d.replicas} by ${d.source} at ${d.at}${d.reason ? `: ${d.reason}` : ''}` : 'none yet'}`);
  return lines;
}
