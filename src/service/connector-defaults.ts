import type { ConnectorDocument, FilteringRules } from "./protocol.js";

/**
 * The default filtering Elasticsearch writes for a new connector
 * (`ConnectorFiltering.getDefaultConnectorFilteringConfig` in Elasticsearch's ent-search plugin):
 * one include-everything basic rule, an empty advanced snippet with its timestamps, state valid.
 */
export function defaultFiltering(
  now: string = new Date().toISOString(),
): NonNullable<ConnectorDocument["filtering"]>[number] {
  const rules = (): FilteringRules => ({
    rules: [
      {
        id: "DEFAULT",
        field: "_",
        rule: "regex",
        value: ".*",
        policy: "include",
        order: 0,
        created_at: now,
        updated_at: now,
      },
    ],
    advanced_snippet: { value: {}, created_at: now, updated_at: now },
    validation: { state: "valid", errors: [] },
  });
  return { domain: "DEFAULT", active: rules(), draft: rules() };
}

/** Elastic's default ingest pipeline settings (the `.elastic-connectors` mapping's `_meta.pipeline`). */
export const DEFAULT_PIPELINE = {
  name: "search-default-ingestion",
  extract_binary_content: true,
  reduce_whitespace: true,
  run_ml_inference: true,
};

/** `ConnectorScheduling.getDefaultConnectorScheduling`: every type present, disabled, at midnight. */
export function defaultScheduling(): NonNullable<ConnectorDocument["scheduling"]> {
  const midnight = { enabled: false, interval: "0 0 0 * * ?" };
  return { access_control: { ...midnight }, full: { ...midnight }, incremental: { ...midnight } };
}

/**
 * What `PUT _connector/<id>` indexes for a new connector
 * (`ConnectorIndexService.createConnectorWithDefaultValues`), plus the pipeline settings Kibana
 * and Elastic's `connectors connector create` add.
 */
export function newConnectorDocument(options: {
  name: string;
  indexName: string;
  serviceType: string;
}): ConnectorDocument {
  return {
    configuration: {},
    custom_scheduling: {},
    filtering: [defaultFiltering()],
    index_name: options.indexName,
    is_native: false,
    name: options.name,
    pipeline: { ...DEFAULT_PIPELINE },
    scheduling: defaultScheduling(),
    service_type: options.serviceType,
    status: "created",
    sync_now: false,
    deleted: false,
  };
}
