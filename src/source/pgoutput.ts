/**
 * The pgoutput options each PostgreSQL major accepts. pg-logical-replication's plugin always sends
 * `messages`, which PostgreSQL 12 and 13 refuse ("unrecognized pgoutput option: messages"): this
 * one asks the walsender its version (`SHOW` is a replication command) and sends only what it knows.
 *
 * Protocol 1 on every version: the library's parser decodes protocol 1 messages only, so
 * `streaming` (protocol 2+, PostgreSQL 14+) is not used and a large transaction arrives at its
 * commit, as on 12 and 13 (the server spills it to disk meanwhile).
 */
import type { Client } from "pg";
import { PgoutputPlugin } from "pg-logical-replication";
import { quoteIdent, quoteLiteral } from "./sql.js";

/** The options of START_REPLICATION for a server of this `server_version_num`. */
export function pgoutputOptions(versionNum: number, publications: string[]): string[] {
  const options = ["proto_version '1'", `publication_names ${quoteLiteral(publications.join(","))}`];
  // `messages` (logical decoding messages) exists since PostgreSQL 14; they are not wanted.
  if (versionNum >= 140000) options.push("messages 'false'");
  return options;
}

export class VersionedPgoutputPlugin extends PgoutputPlugin {
  constructor(private readonly publications: string[]) {
    super({ protoVersion: 1, publicationNames: publications });
  }

  override async start(client: Client, slotName: string, lastLsn: string): Promise<unknown> {
    const version = await client.query<{ server_version_num: string }>("SHOW server_version_num");
    const options = pgoutputOptions(Number(version.rows[0]?.server_version_num), this.publications);
    const slot = quoteIdent(slotName);
    return client.query(`START_REPLICATION SLOT ${slot} LOGICAL ${lastLsn} (${options.join(", ")})`);
  }
}
