// The served /openapi.json as a client reads it: its operations, and a JSON Schema 2020-12
// validator (ajv) for each answer's body, so a test checks real answers against the document.
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';

// ajv-formats is CommonJS with `exports.default`: under Node's ESM interop the function is that.
const addFormats = ajvFormats.default;

export interface Operation {
  method: string;
  /** The path as the document writes it: /api/users/{id}. */
  path: string;
  operationId: string;
  // biome-ignore lint/suspicious/noExplicitAny: an OpenAPI operation object, read as JSON
  spec: any;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

const base = 'https://silo.test/openapi.json';
const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

// biome-ignore lint/suspicious/noExplicitAny: the document, read as JSON
export function openApiDocument(doc: any) {
  // The whole document is one schema resource, so $refs to #/components/schemas resolve in it;
  // OpenAPI's own keywords (paths, example, ...) are not JSON Schema and are ignored.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: base });

  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const [method, spec] of Object.entries(item)) {
      operations.push({ method: method.toUpperCase(), path, operationId: (spec as { operationId: string }).operationId, spec });
    }
  }

  /** What is wrong with an answer to `op` by the document; an empty list when nothing is. */
  function problems(op: Operation, answer: Answer): string[] {
    const declared = op.spec.responses[String(answer.status)];
    if (!declared) return [`status ${answer.status} is not declared (body: ${answer.text.slice(0, 200)})`];
    if (!declared.content) return answer.text === '' ? [] : [`status ${answer.status} declares no body but one came`];
    const type = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim();
    // Any type (a document file's, as uploaded): bytes, not JSON to validate.
    if (declared.content['*/*'] && !declared.content[type]) return [];
    if (!declared.content[type]) return [`content type ${type} is not declared for ${answer.status}`];
    // Bytes (a backup archive): the type was checked above, there is no JSON to validate.
    if (type === 'application/octet-stream') return [];
    const at = `${base}#/${pointer('paths', op.path, op.method.toLowerCase(), 'responses', String(answer.status), 'content', type, 'schema')}`;
    const validate = ajv.getSchema(at);
    if (!validate) return [`no schema at ${at}`];
    // NDJSON (a fleet query): the schema is one line's, and every line must match it.
    const documents = type === 'application/x-ndjson' ? answer.text.split('\n').filter((l) => l !== '') : [answer.text];
    return documents.flatMap((document, line) =>
      validate(JSON.parse(document))
        ? []
        : (validate.errors ?? []).map(
            (e) => `${answer.status} body${documents.length > 1 ? ` line ${line + 1}` : ''}${e.instancePath} ${e.message}`,
          ),
    );
  }

  return { operations, problems };
}
