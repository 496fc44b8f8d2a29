/** `skiff explain FIELD`: what a spec field is, from the schema that validates specs; no cluster needed. */
import { command, outputMode, UsageError } from '../command.ts';

export default command({
  name: 'explain',
  summary: 'describe a field of a service, job or cron job spec: its type, default, rules and fields',
  usage: ['explain [FIELD] [-o json]'],
  example: 'skiff explain spec.containers.resources',
  flags: {},
  maxArgs: 1,
  async run({ values, positionals }, out) {
    const mode = outputMode(values.output);
    // Loaded when it runs: the spec schema and zod are not part of every command's start.
    const { explainField } = await import('../../core/spec/explain.ts');
    const { ValidationError } = await import('../../core/errors.ts');
    let field: ReturnType<typeof explainField>;
    try {
      field = explainField(positionals[0] ?? '');
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(err.message);
      throw err;
    }
    if (mode === 'json') {
      out.log(JSON.stringify(field, null, 2));
      return 0;
    }
    const lines = [`FIELD:    ${field.path || '(a spec)'}`, `TYPE:     ${field.type}${field.required ? ' (required)' : ''}`];
    if (field.default !== undefined) lines.push(`DEFAULT:  ${JSON.stringify(field.default)}`);
    if (field.rules.length) lines.push(`RULES:    ${field.rules.join('; ')}`);
    if (field.description) lines.push('', field.description);
    if (field.fields.length) {
      const width = Math.max(...field.fields.map((f) => f.name.length));
      lines.push('', 'FIELDS:');
      for (const f of field.fields)
        lines.push(
          `  ${f.name.padEnd(width)}   ${f.type}${f.required ? ' (required)' : ''}${f.description ? `\n  ${' '.repeat(width)}   ${f.description}` : ''}`,
        );
    }
    lines.push('', 'More: docs/spec.md');
    out.log(lines.join('\n'));
    return 0;
  },
});
