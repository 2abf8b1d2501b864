import { defaultConnectorConfiguration } from "../config/connector-fields.js";
import { resolvePostgresConfig } from "../config/postgres-config.js";
import { PgSearchError } from "../errors.js";
import type { AdvancedRule } from "../rules/advanced.js";
import { validateBasicRules } from "../rules/basic.js";
import { connectionFactory } from "../source/connection.js";
import { PostgresSource } from "../source/postgres-source.js";
import { prepareAdvancedRules } from "../sync/prepare.js";
import { defaultFiltering } from "./connector-defaults.js";
import type { ConnectorDocument, FilteringRules, Versioned } from "./protocol.js";
import type { ServiceDependencies } from "./service-deps.js";

/** What the PostgreSQL source supports, written into the connector document. */
export const POSTGRESQL_FEATURES = {
  sync_rules: { basic: { enabled: true }, advanced: { enabled: true } },
  incremental_sync: { enabled: true },
  document_level_security: { enabled: false },
  native_connector_api_keys: { enabled: false },
};

/**
 * Keeps the connectors of config.yml registered and healthy, as Elastic's `Connector.prepare`,
 * heartbeat, `validate_filtering` and ping do: configuration fields, features and type written
 * when missing; check-in; draft sync rules validated and activated; PostgreSQL pinged, the
 * result written as `connected` or `error` (re-checked every poll, so an error heals itself).
 */
export class Registration {
  private readonly lastCheckIn = new Map<string, number>();

  constructor(private readonly deps: ServiceDependencies) {}

  /** The connector when it is ready to sync; undefined when missing, unconfigured or in error. */
  async manage(
    id: string,
    syncing: boolean,
    signal?: AbortSignal,
  ): Promise<Versioned<ConnectorDocument> | undefined> {
    const { protocol, logger } = this.deps;
    let connector = await protocol.getConnector(id, signal);
    if (connector === undefined || connector.doc.deleted === true) {
      logger.warn(
        { connector_id: id },
        `connector ${id} does not exist; create it in Kibana or with PUT _connector/${id}`,
      );
      return undefined;
    }
    const patch = this.registrationPatch(connector);
    if (Object.keys(patch).length > 0) {
      if (!(await protocol.updateConnector(id, patch, connector))) return undefined; // changed meanwhile: next poll
      connector = await protocol.getConnector(id, signal);
      if (connector === undefined) return undefined;
    }
    if (connector.doc.status === "created" || connector.doc.status === "needs_configuration")
      return undefined;
    await this.checkIn(connector);
    await this.validateDraftRules(connector, signal);
    connector = await this.ping(connector, syncing, signal);
    return connector.doc.status === "error" ? undefined : connector;
  }

  /** Self-registration: the connector gets its configuration fields, features and type. */
  private registrationPatch(connector: Versioned<ConnectorDocument>): Partial<ConnectorDocument> {
    const doc = connector.doc;
    const patch: Partial<ConnectorDocument> = {};
    if (doc.service_type == null) patch.service_type = "postgresql";
    if (JSON.stringify(doc.features ?? {}) !== JSON.stringify(POSTGRESQL_FEATURES))
      patch.features = POSTGRESQL_FEATURES;
    const defaults = defaultConnectorConfiguration();
    if (doc.configuration === undefined || Object.keys(doc.configuration).length === 0) {
      patch.configuration = defaults;
      patch.status = "needs_configuration";
    } else {
      const missing = Object.keys(defaults).filter((key) => !(key in (doc.configuration ?? {})));
      if (missing.length > 0) {
        patch.configuration = {
          ...doc.configuration,
          ...Object.fromEntries(missing.map((key) => [key, defaults[key]])),
        };
        this.deps.logger.warn(
          { connector_id: connector.id, fields: missing },
          "new configuration fields added with defaults; review them",
        );
      }
    }
    if (doc.filtering === undefined || doc.filtering.length === 0) patch.filtering = [defaultFiltering()];
    return patch;
  }

  /** Validates the configuration and pings PostgreSQL: connected, or error with a readable message. */
  private async ping(
    connector: Versioned<ConnectorDocument>,
    syncing: boolean,
    signal?: AbortSignal,
  ): Promise<Versioned<ConnectorDocument>> {
    let status: "connected" | "error" = "connected";
    let error: string | null = null;
    try {
      const config = resolvePostgresConfig(connector.doc.configuration ?? {}, "configuration");
      await new PostgresSource(config, connectionFactory(config)).ping(signal);
    } catch (caught) {
      status = "error";
      error = caught instanceof Error ? caught.message : String(caught);
    }
    if (connector.doc.status === status && (connector.doc.error ?? null) === error) return connector;
    if (!syncing || status === "error") {
      await this.deps.protocol.updateConnector(connector.id, { status, error });
      if (status === "error")
        this.deps.logger.warn({ connector_id: connector.id }, `connector ${connector.id}: ${error ?? ""}`);
    }
    return (await this.deps.protocol.getConnector(connector.id, signal)) ?? connector;
  }

  private async checkIn(connector: Versioned<ConnectorDocument>): Promise<void> {
    const last = this.lastCheckIn.get(connector.id) ?? 0;
    if (Date.now() - last < this.deps.config.service.heartbeat * 1000) return;
    this.lastCheckIn.set(connector.id, Date.now());
    await this.deps.protocol.checkIn(connector.id);
  }

  /**
   * Kibana edits the draft and marks it "edited"; the service validates it and activates it when
   * valid. The draft is judged as a sync judges its rules: basic rules and the advanced rules'
   * shape and read-only SQL locally, then the sync's own plan against the connector's PostgreSQL
   * (the functions a query calls, its tables and id columns), so a draft shown valid is one the
   * sync runs. When PostgreSQL cannot be asked (unreachable, configuration invalid), the draft
   * stays "edited" and is judged at a later poll.
   */
  private async validateDraftRules(
    connector: Versioned<ConnectorDocument>,
    signal?: AbortSignal,
  ): Promise<void> {
    const filtering = connector.doc.filtering?.[0];
    if (filtering?.draft.validation.state !== "edited") return;
    const errors = await this.draftErrors(connector, filtering.draft, signal);
    if (errors === undefined) return;
    const validation: FilteringRules["validation"] = {
      state: errors.length === 0 ? "valid" : "invalid",
      errors,
    };
    await this.deps.protocol.setDraftValidation(connector, validation);
    this.deps.logger.info(
      { connector_id: connector.id, state: validation.state },
      `draft sync rules ${validation.state}`,
    );
  }

  /** The draft's validation errors; undefined when PostgreSQL cannot be asked now. */
  private async draftErrors(
    connector: Versioned<ConnectorDocument>,
    draft: FilteringRules,
    signal?: AbortSignal,
  ): Promise<FilteringRules["validation"]["errors"] | undefined> {
    const errors = [...validateBasicRules(draft.rules).errors];
    const invalid = (error: unknown) => [
      ...errors,
      { ids: ["advanced_snippet"], messages: [(error as Error).message] },
    ];
    let advanced: AdvancedRule[];
    try {
      advanced = await prepareAdvancedRules(draft.advanced_snippet.value);
    } catch (error) {
      return invalid(error);
    }
    if (advanced.length === 0) return errors;
    try {
      const config = resolvePostgresConfig(connector.doc.configuration ?? {}, "configuration");
      await new PostgresSource(config, connectionFactory(config)).plan(advanced, signal);
      return errors;
    } catch (error) {
      if (error instanceof PgSearchError && error.code === "sync_rule_invalid") return invalid(error);
      this.deps.logger.warn(
        { connector_id: connector.id, err: error },
        "draft sync rules not validated yet: PostgreSQL cannot check them now",
      );
      return undefined;
    }
  }
}
