/** `skiff config set|get|unset`: the saved connection to a deployed API (~/.config/skiff/config.json). */
import { buildConfig, configPath, ConfigValueError, readConfig, unsetConfig, writeConfig } from '../config.ts';
import { command, outputMode, UsageError, type AnyCommand } from '../command.ts';
import { table } from '../format.ts';

// Own options only (no global -n or --api meaning "which API"): an unknown flag is a mistake here.
const set = command({
  name: 'set',
  summary: 'save a deployed API, and the region and profile its requests are signed for',
  usage: ['config set --api URL [--region R] [--profile P]'],
  example: 'skiff config set --api https://abc123.execute-api.eu-west-1.amazonaws.com',
  flags: {
    api: { type: 'string', value: 'URL', help: 'the ApiUrl output of the stack' },
    region: { type: 'string', value: 'R', help: 'sign requests with SigV4 for this region (default: the one in an execute-api URL)' },
    profile: { type: 'string', value: 'P', help: 'the AWS profile whose credentials sign (default: the credential chain default)' },
  },
  globals: false,
  maxArgs: 0,
  run({ values }, out) {
    if (values.api === undefined) throw new UsageError('config set needs --api URL (the ApiUrl output of the stack)');
    let saved: ReturnType<typeof buildConfig>;
    try {
      saved = buildConfig({ api: values.api, region: values.region, profile: values.profile });
    } catch (err) {
      if (err instanceof ConfigValueError) throw new UsageError(err.message);
      throw err;
    }
    const file = configPath();
    writeConfig(saved, file);
    const signing = saved.region
      ? `requests signed with SigV4 for ${saved.region}${values.region === undefined ? ' (from the URL)' : ''}${saved.profile ? `, profile ${saved.profile}` : ''}`
      : 'requests not signed (no --region)';
    out.log(`saved ${file}: API ${saved.api}, ${signing}`);
    return 0;
  },
});

const get = command({
  name: 'get',
  summary: 'show the saved API, region and profile',
  usage: ['config get [-o json]'],
  example: 'skiff config get -o json',
  flags: { output: { type: 'string', short: 'o', value: 'json', help: 'machine-readable output' } },
  globals: false,
  maxArgs: 0,
  run({ values }, out) {
    const mode = outputMode(values.output);
    const file = configPath();
    const saved = readConfig(file);
    if (!saved) {
      out.err(`skiff: no config at ${file}; save one with skiff config set --api URL [--region R] [--profile P]`);
      return 1;
    }
    if (mode === 'json') out.log(JSON.stringify(saved, null, 2));
    else
      out.log(
        table([
          ['API', 'REGION', 'PROFILE', 'FILE'],
          [saved.api, saved.region ?? '- (not signed)', saved.profile ?? '-', file],
        ]),
      );
    return 0;
  },
});

const unset = command({
  name: 'unset',
  summary: 'remove the saved config',
  usage: ['config unset'],
  example: 'skiff config unset',
  flags: {},
  globals: false,
  maxArgs: 0,
  run(_input, out) {
    const file = configPath();
    out.log(unsetConfig(file) ? `removed ${file}` : `no config at ${file}; nothing to remove`);
    return 0;
  },
});

export default command({
  name: 'config',
  summary: 'connect the CLI to a deployed Skiff: save, show or remove its API',
  usage: ['config set --api URL [--region R] [--profile P]   save a deployed API (~/.config/skiff/config.json)', 'config get [-o json] | skiff config unset'],
  example: 'skiff config set --api https://abc123.execute-api.eu-west-1.amazonaws.com --profile ops',
  flags: {},
  globals: false,
  subcommands: [set, get, unset] as AnyCommand[],
});
