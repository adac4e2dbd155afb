// TLS to database servers, from the libpq parameters a connection string carries (docs/tls.md).
//
// postgres.js 3.4.9 reads `sslmode` itself but not the way libpq does: `require`, `prefer` and
// `allow` all switch certificate checks off, `verify-ca` checks the host name as well, and
// `sslrootcert=<path>` is not read at all (it is sent to the server as a setting, which refuses it).
// So Silo takes those parameters out of the URL and gives postgres.js an explicit `ssl` option:
//   disable              no TLS
//   allow, prefer        TLS if the server offers it, certificate not checked
//   require              TLS, certificate not checked (a warning, once per server); with a
//                        sslrootcert path it is checked as for verify-ca, as libpq does
//   verify-ca            TLS, certificate signed by a trusted CA, host name not checked
//   verify-full          TLS, certificate signed by a trusted CA and naming the host
// Trusted CAs: the URL's sslrootcert (a PEM file; `system` for Node's built-in roots), else Node's
// built-in roots plus SILO_DB_CA_FILE when it is set. SILO_DB_SSLMODE raises every URL's mode to at
// least its own (a URL without sslmode counts as disable).
import { readFileSync } from 'node:fs';
import { checkServerIdentity, rootCertificates, type ConnectionOptions } from 'node:tls';
import { SiloError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** What postgres.js's `ssl` option accepts. */
export type PostgresSsl = false | 'prefer' | 'require' | ConnectionOptions;

export interface DatabaseTlsSettings {
  /** A PEM file of CAs trusted (with Node's built-in roots) where a URL names no sslrootcert. */
  caFile?: string | undefined;
  /** SILO_DB_SSLMODE: the weakest mode any connection uses; a URL may only ask for more. */
  minimumMode?: SslMode | undefined;
  /** Where the warning about `require` goes, once per server. */
  log?: Logger;
}

let settings: DatabaseTlsSettings = {};
const warned = new Set<string>();

/** Process-wide, as the embedded server and the Neon driver settings are: Silo calls it on start. */
export function configureDatabaseTls(given: DatabaseTlsSettings): void {
  settings = given;
  warned.clear();
}

// libpq parameters that postgres.js would otherwise send to the server as settings. channel_binding
// (in Neon's URIs): postgres.js has no SCRAM-SHA-256-PLUS, so it cannot be honoured; verify-full is
// what stops a relay instead.
const CLIENT_ONLY_PARAMETERS = ['sslmode', 'sslrootcert', 'channel_binding'];

/**
 * The URL without the parameters Silo handles itself, and the `ssl` option that honours them.
 * Errors name the parameter or the CA file's path, never the URL (it holds a password).
 */
export function postgresTls(url: string): { url: string; ssl: PostgresSsl } {
  const parsed = new URL(url);
  const mode = parsed.searchParams.get('sslmode');
  const rootCert = parsed.searchParams.get('sslrootcert');
  for (const name of CLIENT_ONLY_PARAMETERS) parsed.searchParams.delete(name);
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
    throw new SiloError('validation_failed', `sslmode must be one of ${SSL_MODES.join(', ')}`);
  }
  // WHATWG URLs keep an IPv6 address in brackets; certificates and logs name it without.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { url: parsed.toString(), ssl: sslOption(mode as SslMode | null, rootCert, host, parsed.port || '5432') };
}

function sslOption(mode: SslMode | null, rootCert: string | null, host: string, port: string): PostgresSsl {
  // As in libpq: sslrootcert=system means verify-full unless a mode says otherwise, and a root
  // certificate given with `require` makes it verify-ca.
  const effective = atLeast(mode ?? (rootCert === 'system' ? 'verify-full' : null), settings.minimumMode);
  switch (effective) {
    case null:
    case 'disable':
      return false;
    case 'allow':
    case 'prefer':
      return 'prefer';
    case 'require':
      if (rootCert) return verified(rootCert, null);
      if (!warned.has(`${host}:${port}`)) {
        warned.add(`${host}:${port}`);
        settings.log?.warn(
          { server: `${host}:${port}` },
          'sslmode=require encrypts but does not check the server certificate: use sslmode=verify-full (docs/tls.md)',
        );
      }
      return 'require';
    case 'verify-ca':
      return verified(rootCert, null);
    case 'verify-full':
      return verified(rootCert, host);
  }
}

/** The stronger of a URL's mode and SILO_DB_SSLMODE (SSL_MODES is in order, weakest first). */
function atLeast(mode: SslMode | null, minimum: SslMode | undefined): SslMode | null {
  if (!minimum) return mode;
  return mode && SSL_MODES.indexOf(mode) >= SSL_MODES.indexOf(minimum) ? mode : minimum;
}

/** Options that check the chain, and the host name unless it is null (verify-ca). */
function verified(rootCert: string | null, host: string | null): ConnectionOptions {
  const ca = rootCert === 'system' ? undefined : rootCert ? [readCa(rootCert, 'sslrootcert')] : extraRoots();
  return {
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
    // Named explicitly: for a host given as an IP address postgres.js sets no servername, and Node
    // then checks the certificate against "localhost" (it has no other name for the peer).
    checkServerIdentity: host === null ? () => undefined : (_name, cert) => checkServerIdentity(host, cert),
  };
}

/** Node's built-in roots plus SILO_DB_CA_FILE, or undefined (the built-in roots) when it is unset. */
function extraRoots(): (string | Buffer)[] | undefined {
  if (!settings.caFile) return undefined;
  return [...rootCertificates, readCa(settings.caFile, 'SILO_DB_CA_FILE')];
}

// Read on every client opened, so that a renewed CA file is picked up without a restart.
function readCa(path: string, source: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new SiloError('unavailable', `the CA file named by ${source} (${path}) cannot be read (${code})`);
  }
}

/**
 * For providers whose servers present certificates from a public CA (Neon): any mode that would
 * leave the certificate unchecked becomes verify-full. A URL with no sslmode is left alone.
 */
export function withVerifiedTls(url: string): string {
  const parsed = new URL(url);
  const mode = parsed.searchParams.get('sslmode');
  if (mode === 'require' || mode === 'prefer' || mode === 'allow') parsed.searchParams.set('sslmode', 'verify-full');
  return parsed.toString();
}
