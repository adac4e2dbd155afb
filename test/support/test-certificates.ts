// Certificates for tests that need TLS: a CA made here and a server certificate it signed for
// `localhost`, written with openssl into a folder the caller removes.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  /** PEM file of the CA, for SILO_DB_CA_FILE or sslrootcert. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Runs openssl in `dir`; `args` is split on spaces (none of them holds one). */
export function openssl(dir: string, args: string): void {
  execFileSync('openssl', args.split(' '), { cwd: dir, stdio: 'pipe' });
}

export const NEW_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2';
export const AS_CA = '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign';

/** A CA (`ca.pem`) and a certificate for `localhost` only (`server.crt`, `server.key`) signed by it. */
export function makeLocalhostCertificates(dir: string): TestCertificates {
  openssl(dir, `req -x509 ${NEW_KEY} -keyout ca.key -out ca.pem -subj /CN=silo-test-ca ${AS_CA}`);
  openssl(dir, `req ${NEW_KEY} -keyout server.key -out server.csr -subj /CN=localhost`);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost\n');
  openssl(dir, 'x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext');
  return { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
}
