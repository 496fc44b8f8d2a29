import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { agentServiceUnit, hostPollSeconds, hostUserDataScript } from '../../infra/host-user-data.ts';
import type { HostUserDataOptions } from '../../infra/host-user-data.ts';

const options: HostUserDataOptions = {
  clusterName: 'prod',
  tableName: 'Skiff-prod-Table-ABC',
  parameterPrefix: '/skiff/prod',
  region: 'eu-west-1',
  hostArnPrefix: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
  agentBundleUrl: 's3://assets-bucket/0123abcd.mjs',
  nodeMajorVersion: 22,
  heartbeatSeconds: 15,
  pollSeconds: 5,
};
const script = hostUserDataScript(options);

/** The lines between `cat > <file> <<...` and the next `EOF`. */
function heredoc(file: string): string[] {
  const lines = script.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`cat > ${file} <<`));
  expect(start, `heredoc for ${file}`).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf('EOF', start);
  return lines.slice(start + 1, end);
}

describe('host user data', () => {
  it('is valid bash', () => {
    const check = spawnSync('bash', ['-n'], { input: `#!/bin/bash\n${script}\n`, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('stops at the first failing command', () => {
    expect(script.split('\n')[0]).toBe('set -euo pipefail');
  });

  it('installs the requested Node.js major and checks its namespaced binary exists', () => {
    expect(script).toContain('dnf install -y docker iptables-nft nodejs22 && break');
    expect(script).toContain('command -v node-22 >/dev/null');
  });

  it('configures Docker before starting it: live-restore, and every container log rotated at 10 MB, 3 files kept', () => {
    const config = JSON.parse(heredoc('/etc/docker/daemon.json').join('\n')) as Record<string, unknown>;
    expect(config).toEqual({
      // Containers survive daemon restarts.
      'live-restore': true,
      // A chatty container cannot fill the root volume: at most 30 MB of logs each, still readable by `docker logs`.
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '10m', 'max-file': '3' },
    });
    // Daemon defaults apply to containers created after dockerd reads them: written before its first start.
    expect(script.indexOf('cat > /etc/docker/daemon.json')).toBeLessThan(script.indexOf('systemctl enable --now docker'));
    expect(script.indexOf('cat > /etc/docker/daemon.json')).toBeGreaterThan(script.indexOf('dnf install -y docker'));
  });

  it('reads the instance id and address only with an IMDSv2 session token', () => {
    const metadataReads = script.split('\n').filter((l) => l.includes('/latest/meta-data/'));
    expect(metadataReads).toHaveLength(2);
    for (const read of metadataReads) expect(read).toContain('-H "X-aws-ec2-metadata-token: $TOKEN"');
    expect(script.indexOf('TOKEN=$(curl -sSf -X PUT')).toBeLessThan(script.indexOf('/latest/meta-data/'));
  });

  it('writes every variable the agent reads, expanding the instance identity at boot', () => {
    // Unquoted heredoc: ${HOST_ID} and ${HOST_ADDRESS} are expanded by bash when the file is written.
    expect(script).toContain('cat > /etc/skiff/agent.env <<EOF\n');
    expect(heredoc('/etc/skiff/agent.env')).toEqual([
      'SKIFF_CLUSTER=prod',
      'SKIFF_TABLE=Skiff-prod-Table-ABC',
      'SKIFF_PARAM_PREFIX=/skiff/prod',
      'SKIFF_REGION=eu-west-1',
      'SKIFF_HOST_ID=${HOST_ID}',
      'SKIFF_HOST_ADDRESS=${HOST_ADDRESS}',
      'SKIFF_IDENTITY=ec2',
      'SKIFF_HOST_ARN_PREFIX=arn:aws:ec2:eu-west-1:123456789012:instance/',
      'AWS_REGION=eu-west-1',
      'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true',
      'SKIFF_HEARTBEAT_SECONDS=15',
      'SKIFF_POLL_SECONDS=5',
    ]);
  });

  it('downloads the agent bundle before installing the service that runs it', () => {
    const download = script.indexOf('aws s3 cp "s3://assets-bucket/0123abcd.mjs" /opt/skiff/agent.mjs --region "eu-west-1"');
    expect(download).toBeGreaterThan(0);
    expect(download).toBeLessThan(script.indexOf('systemctl enable --now skiff-agent'));
  });

  it('writes the unit with a quoted heredoc so $MAINPID reaches systemd unexpanded', () => {
    expect(script).toContain("cat > /etc/systemd/system/skiff-agent.service <<'EOF'\n");
    expect(heredoc('/etc/systemd/system/skiff-agent.service').join('\n')).toBe(agentServiceUnit(22));
  });
});

describe('skiff-agent unit', () => {
  const unit = agentServiceUnit(22).split('\n');

  it('restarts the agent 2 s after any exit', () => {
    expect(unit).toContain('Restart=always');
    expect(unit).toContain('RestartSec=2');
  });

  it('runs the bundle with the namespaced Node.js binary and the agent environment file', () => {
    expect(unit).toContain('ExecStart=/usr/bin/node-22 /opt/skiff/agent.mjs');
    expect(unit).toContain('EnvironmentFile=/etc/skiff/agent.env');
  });

  it('records the main pid in /run/skiff-agent.pid for signalling and removes it on stop', () => {
    expect(unit).toContain("ExecStartPost=/bin/sh -c 'echo $MAINPID > /run/skiff-agent.pid'");
    expect(unit).toContain('ExecStopPost=/bin/rm -f /run/skiff-agent.pid');
  });

  it('has systemd create the agent state directory /var/lib/skiff-agent', () => {
    expect(unit).toContain('StateDirectory=skiff-agent');
  });

  it('starts after Docker and at boot', () => {
    expect(unit).toContain('Requires=docker.service');
    expect(unit).toContain('After=docker.service network-online.target');
    expect(unit).toContain('WantedBy=multi-user.target');
  });
});

describe('agent poll interval', () => {
  it.each([
    [1, 5],
    [3, 5],
    [100, 5],
    [101, 6],
    [250, 13],
    [2000, 100],
  ])('polls every max(5, ceil(hosts / 20)) s: %i hosts → %i s', (maxHosts, seconds) => {
    expect(hostPollSeconds(maxHosts)).toBe(seconds);
  });

  it('keeps the whole fleet within 20 Get calls a second, half of the 40 TPS quota', () => {
    for (const maxHosts of [1, 7, 99, 100, 101, 399, 1000, 2000, 5003]) {
      expect(maxHosts / hostPollSeconds(maxHosts)).toBeLessThanOrEqual(20);
    }
  });
});
