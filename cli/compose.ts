/**
 * Compose files for `skiff apply` and `skiff convert`: the shell around core/compose/convert.ts. It
 * reads what the pure converter may not (the file, the `.env` beside it, env_file files, the
 * process environment) and prints the warnings. Loaded only by those commands (it pulls in the
 * spec parser).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { ValidationError } from '../core/errors.ts';
import { type ComposeConversion, composeVariables, convertCompose, isComposeDocument } from '../core/compose/convert.ts';
import { parseYamlDocuments } from '../core/spec/parse.ts';
import type { Out } from './command.ts';

/** The decoded Compose file when `text` is one (a single document, a services map, no kind), else undefined. */
export function composeDocument(text: string): unknown {
  // Cheap first: a Skiff file has "kind:" at the start of a line, a Compose file a "services:" key.
  if (!/^["']?services["']?\s*:/m.test(text) && !/^\s*\{/.test(text)) return undefined;
  let values: unknown[];
  try {
    values = parseYamlDocuments(text);
  } catch {
    // Not readable YAML: the Skiff parser reports it with line and column.
    return undefined;
  }
  return values.length === 1 && isComposeDocument(values[0]) ? values[0] : undefined;
}

export interface ComposeFlags {
  readonly strict?: boolean;
  readonly profile?: string;
  readonly namespace?: string;
}

/**
 * Converts the Compose file at `file` (already decoded as `doc`), reading `.env` and env_file files
 * beside it and the environment; prints each warning to stderr. Throws ValidationError.
 */
export function convertComposeFile(file: string, doc: unknown, flags: ComposeFlags, out: Out, environment: NodeJS.ProcessEnv = process.env): ComposeConversion {
  const dir = dirname(resolve(file));
  const read = (path: string): string | undefined => {
    const full = isAbsolute(path) ? path : resolve(dir, path);
    return existsSync(full) ? readFileSync(full, 'utf8') : undefined;
  };
  const vars = composeVariables(read('.env'), environment);
  if (vars.errors.length > 0) throw new ValidationError(vars.errors);
  let result: ComposeConversion;
  try {
    result = convertCompose(doc, {
      folder: basename(dir),
      env: vars.env,
      readFile: read,
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
      ...(flags.profile !== undefined ? { profiles: flags.profile.split(',') } : {}),
      strict: flags.strict === true,
    });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    // One problem a line: a Compose file often has several, each with its own path.
    throw new Error(`${file} cannot be deployed as it is:\n${err.issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n')}`, {
      cause: err,
    });
  }
  for (const w of result.warnings) out.err(`warning: ${w.path}: ${w.message}`);
  for (const s of result.skipped) out.err(`skipped: services.${s.service}: its profiles (${s.profiles.join(', ')}) are not active (--profile)`);
  return result;
}

/** The converted documents as one multi-document YAML text, which `skiff apply -f` and POST /v1/apply take. */
export function documentsYaml(result: ComposeConversion, source: string): string {
  // What was not honoured travels with the documents, for people moving to the native format.
  // One line each: a key holding a line break (YAML allows it) must not end the comment.
  const oneLine = (text: string) => text.replace(/[\r\n\u2028\u2029]+/g, ' ');
  const notes = result.warnings.map((w) => `# warning: ${oneLine(`${w.path}: ${w.message}`)}\n`).join('');
  const header = `# Converted from ${oneLine(source)} by skiff convert: namespace ${result.namespace}, ${result.documents.length} service(s).\n${notes}`;
  return header + result.documents.map((d) => YAML.stringify(d, { lineWidth: 0 })).join('---\n');
}
