/** `skiff convert -f compose.yaml`: the Skiff documents a Compose file becomes; needs no cluster. */
import { readFileSync } from 'node:fs';
import { command, UsageError } from '../command.ts';

export default command({
  name: 'convert',
  summary: 'print the Skiff documents a Compose file becomes (YAML; -o json: as the API stores them, every default filled in); needs no cluster',
  usage: ['convert -f compose.yaml [--strict] [--profile NAME[,NAME]] [-n NAMESPACE] [-o yaml|json]'],
  example: 'skiff convert -f compose.yaml > skiff.yaml',
  flags: {
    file: { type: 'string', short: 'f', value: 'FILE', help: 'the Compose file (compose.yaml, docker-compose.yml, ...)' },
    strict: { type: 'boolean', help: 'fail on anything Skiff does not honour, instead of warning' },
    profile: { type: 'string', value: 'NAME', help: 'activate Compose profiles (comma-separated; else $COMPOSE_PROFILES)' },
  },
  maxArgs: 0,
  async run({ values }, out) {
    if (!values.file) throw new UsageError('convert needs -f FILE (a Compose file)');
    const format = values.output ?? 'yaml';
    if (format !== 'yaml' && format !== 'json') throw new UsageError(`-o must be "yaml" or "json" for convert, got "${values.output}"`);
    let text: string;
    try {
      text = readFileSync(values.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${values.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    const { composeDocument, convertComposeFile, documentsYaml } = await import('../compose.ts');
    const doc = composeDocument(text);
    if (doc === undefined) {
      throw new UsageError(`${values.file} is not a Compose file (a services map without kind): skiff apply -f takes Skiff documents as they are`);
    }
    const result = convertComposeFile(values.file, doc, { strict: values.strict, profile: values.profile, namespace: values.namespace }, out);
    if (format === 'json') out.log(JSON.stringify(result.specs, null, 2));
    else out.log(documentsYaml(result, values.file).trimEnd());
    return 0;
  },
});
