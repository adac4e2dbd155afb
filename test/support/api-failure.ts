// The HTTP answer of an @neondatabase/api-client call that is expected to fail (the client throws
// an AxiosError carrying it), for tests of the Neon stand-in.

// biome-ignore lint/suspicious/noExplicitAny: a JSON answer whose shape is what the test asserts
export async function failure(call: Promise<unknown>): Promise<{ status: number; data: any; headers: Record<string, unknown> }> {
  try {
    await call;
  } catch (error) {
    const response = (error as { response?: { status: number; data: unknown; headers: Record<string, unknown> } }).response;
    if (!response) throw error;
    return { status: response.status, data: response.data, headers: response.headers };
  }
  throw new Error('expected the call to fail');
}
