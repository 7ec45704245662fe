// Run one SPARQL query with Comunica against a SPARQL endpoint and report what happened on the wire.
//
//   node tests/js/comunica-query.mjs ENDPOINT QUERY MEDIA_TYPE [sparql|auto]
//
// Prints one JSON object on stdout: {"requests": [{method, url, contentType, accept, body, status,
// responseType}], "result": "<the result serialised as MEDIA_TYPE>"}. With "sparql" (the default)
// the source is declared a SPARQL endpoint; with "auto" Comunica discovers its type itself.
// Exits 1 with the error on stderr if Comunica fails.
import { QueryEngine } from '@comunica/query-sparql';

const [endpoint, query, mediaType, sourceType = 'sparql'] = process.argv.slice(2);
const requests = [];

async function recordingFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  const body = init.body === undefined || init.body === null ? null : String(init.body);
  const response = await fetch(input, init);
  requests.push({
    method: init.method ?? 'GET',
    url: String(input),
    contentType: headers.get('content-type'),
    accept: headers.get('accept'),
    body,
    status: response.status,
    responseType: response.headers.get('content-type'),
  });
  return response;
}

async function main() {
  const engine = new QueryEngine();
  const source = sourceType === 'auto' ? endpoint : { type: 'sparql', value: endpoint };
  const result = await engine.query(query, { sources: [source], fetch: recordingFetch });
  const { data } = await engine.resultToString(result, mediaType);
  let text = '';
  for await (const chunk of data) {
    text += chunk;
  }
  process.stdout.write(JSON.stringify({ requests, result: text }));
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
