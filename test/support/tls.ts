/**
 * A throwaway test CA, a server certificate for 127.0.0.1 / localhost / ::1
 * and a client certificate (for mutual TLS), made with the `openssl` CLI at
 * test time in a temp dir. Nothing here is ever trusted outside a test.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface TestPki {
  readonly dir: string
  /** The CA certificate (PEM): what `token.cacert` / `--tlscacert` point at. */
  readonly ca: string
  /** Server certificate and key for `serve --tlscert/--tlskey`. */
  readonly cert: string
  readonly key: string
  /** A client certificate and key signed by the same CA (mutual TLS). */
  readonly clientCert: string
  readonly clientKey: string
  /** Removes the temp dir. */
  readonly cleanup: () => void
}

const openssl = (cwd: string, args: ReadonlyArray<string>) =>
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] })

// EC keys: generation is instant, unlike RSA on a busy 2-core machine.
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

export interface TestPkiOptions {
  /** Where to write the files (default: a new temp dir). */
  readonly dir?: string
  /** Let the server certificate act as a client too (etcd's gateway dials its own port with it). */
  readonly serverAlsoClient?: boolean
}

/** Makes a CA, a server and a client certificate, valid for a day. */
export const makeTestPki = (options: TestPkiOptions = {}): TestPki => {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "swarm-tls-"))
  const file = (name: string) => join(dir, name)
  writeFileSync(
    file("ca.ext"),
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
  )
  writeFileSync(
    file("server.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" +
      `extendedKeyUsage=serverAuth${options.serverAlsoClient ? ",clientAuth" : ""}\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n`
  )
  writeFileSync(
    file("client.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
  )
  openssl(dir, [
    "req",
    "-new",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.csr",
    "-subj",
    "/CN=swarm-discovery test CA"
  ])
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    "ca.csr",
    "-signkey",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-extfile",
    "ca.ext"
  ])
  for (const [name, cn] of [
    ["server", "localhost"],
    ["client", "swarm-discovery test client"]
  ] as const) {
    openssl(dir, [
      "req",
      "-new",
      ...EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`
    ])
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`
    ])
  }
  return {
    dir,
    ca: file("ca.pem"),
    cert: file("server.pem"),
    key: file("server.key"),
    clientCert: file("client.pem"),
    clientKey: file("client.key"),
    cleanup: () => rmSync(dir, { recursive: true, force: true })
  }
}
