// The HTTP API beside the browser, for what a console test sets up or checks from outside: a
// company user's login and documents, an admin's token.
export async function callApi(base: string, method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

export async function logInApi(base: string, credentials: { email: string; password: string; company?: string }): Promise<string> {
  const answer = await callApi(base, 'POST', '/api/auth/login', { body: credentials });
  if (answer.status !== 200) throw new Error(`login answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body.token;
}
