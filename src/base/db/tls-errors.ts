// Saying why a TLS connection to a database server failed, in words an operator can act on. Node
// reports a refused certificate with OpenSSL's verify codes (and its own for a host name mismatch),
// and a server without TLS as a socket cut during the handshake: postgres.js starts TLS even after
// the server has answered that it has none.

// OpenSSL's X509 verification results (X509_V_ERR_* without the prefix) and Node's host name check.
const CERTIFICATE_CODES =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|(UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|INVALID_|PATH_LENGTH_|CERT_).*)$/;

function codeOf(error: unknown): string {
  return String((error as { code?: unknown } | null)?.code ?? '');
}

/** The server's certificate was not accepted (wrong CA, wrong host name, expired...). */
export function isCertificateRefused(error: unknown): boolean {
  return error instanceof Error && CERTIFICATE_CODES.test(codeOf(error));
}

/** The connection was cut before TLS was set up: most often a server that does not offer TLS. */
export function isTlsHandshakeCut(error: unknown): boolean {
  return error instanceof Error && codeOf(error) === 'ECONNRESET' && /secure TLS connection/.test(error.message);
}

/** An explanation of a TLS failure, or undefined for any other error. Names no URL. */
export function describeTlsFailure(error: unknown): string | undefined {
  if (isCertificateRefused(error)) {
    return `the server's TLS certificate was refused: ${(error as Error).message} (see the URL's sslmode and sslrootcert, or SILO_DB_CA_FILE)`;
  }
  if (isTlsHandshakeCut(error)) {
    return 'the server closed the connection before TLS was set up: it may not accept TLS, while the URL asks for it (sslmode)';
  }
  return undefined;
}
