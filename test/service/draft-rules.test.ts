/**
 * Draft sync rules edited in Kibana are judged as the sync judges them: a draft the service marks
 * valid is one a sync runs, and a draft a sync would refuse (a query calling a state-changing
 * function: src/rules/functions.ts, through PostgresSource.plan) is marked invalid with the same
 * message, naming the function.
 */
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/observability/logger.js";
import { connectionFactory } from "../../src/source/connection.js";
import { PostgresSource } from "../../src/source/postgres-source.js";
import { resolvePostgresConfig } from "../../src/config/postgres-config.js";
import { ConnectorService } from "../../src/service/connector-service.js";
import type { FilteringRules } from "../../src/service/protocol.js";
import { prepareRules } from "../../src/sync/prepare.js";
import { stackConnectorValues } from "../helpers/connectors.js";
import {
  configureConnector,
  connectorDoc,
  createTestConnector,
  protocolUnderTest,
  serviceTestStack,
  testServiceConfig,
} from "../helpers/service-fixtures.js";

const servers = serviceTestStack("draftrules");
const { schema } = servers;

/** What PUT _connector/<id>/_filtering writes for an edited draft: timestamps kept and bumped. */
async function editDraft(id: string, advanced: unknown): Promise<void> {
  const filtering = (await connectorDoc(servers.protocol(), id)).filtering?.[0];
  if (filtering === undefined) throw new Error("no filtering");
  const draft: FilteringRules = {
    ...filtering.draft,
    advanced_snippet: {
      ...filtering.draft.advanced_snippet,
      value: advanced,
      updated_at: new Date().toISOString(),
    },
    validation: { state: "edited", errors: [] },
  };
  await servers.protocol().updateConnector(id, { filtering: [{ ...filtering, draft }] });
}

async function filteringOf(id: string) {
  const filtering = (await connectorDoc(servers.protocol(), id)).filtering?.[0];
  if (filtering === undefined) throw new Error("no filtering");
  return filtering;
}

/** What a sync of the connector says about these rules (the oracle the draft must agree with). */
async function syncVerdict(id: string, advanced: unknown): Promise<string> {
  const config = resolvePostgresConfig((await connectorDoc(servers.protocol(), id)).configuration ?? {}, "c");
  const rules = await prepareRules({ basic: [], advanced });
  return new PostgresSource(config, connectionFactory(config)).plan(rules.advanced).then(
    () => "runs",
    (error: unknown) => (error as Error).message,
  );
}

describe.each(["index", "api"] as const)("draft sync rules through the %s protocol", (backend) => {
  const under = protocolUnderTest(backend, servers.es);

  afterAll(() => {
    // The api backend really validated and activated through the Connector API endpoints.
    if (backend === "api")
      for (const endpoint of ["/_filtering/_validation", "/_filtering/_activate"])
        expect(
          under.emulator()?.calls.some((call) => call.endsWith(endpoint)),
          endpoint,
        ).toBe(true);
  });

  async function connected(name: string, values: Record<string, unknown> = {}) {
    const id = await createTestConnector(servers.es(), `${schema.replaceAll("_", "-")}-${backend}-${name}`);
    const svc = new ConnectorService({
      config: testServiceConfig([id]),
      protocol: under.protocol(),
      client: servers.es(),
      logger: silentLogger,
    });
    await svc.tick();
    await configureConnector(servers.protocol(), id, stackConnectorValues(schema, values));
    await svc.tick();
    return { id, svc };
  }

  it("invalid draft sync rules get validation errors; valid ones are activated", async () => {
    const { id, svc } = await connected("rules");
    await editDraft(id, [{ tables: ["employee"], query: "DELETE FROM employee" }]);
    await svc.tick();
    let filtering = await filteringOf(id);
    expect(filtering.draft.validation).toMatchObject({
      state: "invalid",
      errors: [
        {
          ids: ["advanced_snippet"],
          messages: [expect.stringMatching(/advanced\[0\].*SELECT, found a DELETE statement/) as unknown],
        },
      ],
    });
    expect(filtering.active.advanced_snippet.value).toEqual({});
    const valid = [{ tables: ["employee"], query: "SELECT emp_id, upper(name) AS name FROM employee" }];
    await editDraft(id, valid);
    await svc.tick();
    filtering = await filteringOf(id);
    expect(filtering.draft.validation.state).toBe("valid");
    expect(filtering.active.advanced_snippet.value).toEqual(valid);
  });

  it("a draft rule calling a state-changing function is invalid, naming the function, as the sync refuses it", async () => {
    const { id, svc } = await connected("unsafe");
    const unsafe = [
      {
        tables: ["employee"],
        query: "SELECT emp_id, name, set_config('work_mem', '64MB', false) AS s FROM employee",
      },
    ];
    const refused = await syncVerdict(id, unsafe);
    expect(refused).toMatch(/advanced\[0\].*pg_catalog\.set_config, a configuration function/);
    await editDraft(id, unsafe);
    await svc.tick();
    const filtering = await filteringOf(id);
    expect(filtering.draft.validation).toEqual({
      state: "invalid",
      errors: [{ ids: ["advanced_snippet"], messages: [refused] }],
    });
    // Not activated: the sync keeps running the rules it had.
    expect(filtering.active.advanced_snippet.value).toEqual({});
  });

  it("a draft PostgreSQL cannot check now stays edited, and is judged once it can", async () => {
    const { id, svc } = await connected("later", { password: "Not-The-Password-77" });
    expect(await connectorDoc(servers.protocol(), id)).toMatchObject({ status: "error" });
    const unsafe = [
      { tables: ["employee"], query: "SELECT emp_id, pg_read_file('/etc/hostname') AS f FROM employee" },
    ];
    await editDraft(id, unsafe);
    await svc.tick();
    expect((await filteringOf(id)).draft.validation).toEqual({ state: "edited", errors: [] });
    await configureConnector(servers.protocol(), id, stackConnectorValues(schema));
    await svc.tick();
    expect((await filteringOf(id)).draft.validation).toMatchObject({
      state: "invalid",
      errors: [
        { messages: [expect.stringMatching(/pg_catalog\.pg_read_file, a server-file function/) as unknown] },
      ],
    });
  });
});
